package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Registrations can be withdrawn, unlike {@code File.deleteOnExit}; the child-JVM tests of the callers check the hook. */
class ExitDeletionTest {

    @Test
    void aRegistrationCanBeWithdrawn() {
        Path p = Path.of("/nonexistent-lokr-exit-deletion-test", "a.tmp");
        ExitDeletion.register(p);
        assertTrue(ExitDeletion.isRegistered(p));
        ExitDeletion.unregister(p);
        assertFalse(ExitDeletion.isRegistered(p));
        ExitDeletion.unregister(p);   // a second withdrawal does nothing
        assertFalse(ExitDeletion.isRegistered(p));
    }

    @Test
    void nullIsRefusedByName() {
        assertTrue(assertThrows(NullPointerException.class, () -> ExitDeletion.register(null)).getMessage()
                .contains("file"));
        assertTrue(assertThrows(NullPointerException.class, () -> ExitDeletion.unregister(null)).getMessage()
                .contains("file"));
    }
}
