package dev.lokr.dl4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class WeakIdentitySetTest {

    /** Equal but distinct objects are different members; the same object is added once. */
    @Test
    void membersAreComparedByIdentity() {
        WeakIdentitySet<List<Integer>> set = new WeakIdentitySet<>();
        List<Integer> a = new ArrayList<>(List.of(1, 2));
        List<Integer> b = new ArrayList<>(List.of(1, 2));
        assertTrue(set.add(a));
        assertTrue(set.add(b), "an equal but distinct object is new");
        assertFalse(set.add(a), "the same object again");
        assertFalse(set.add(b));
        assertEquals(2, set.entries());
    }

    /** The set does not keep its members alive: once unreachable elsewhere, they leave it. */
    @Test
    void unreachableMembersLeave() throws InterruptedException {
        WeakIdentitySet<Object> set = new WeakIdentitySet<>();
        Object kept = new Object();
        set.add(kept);
        for (int i = 0; i < 1000; i++) {
            set.add(new byte[1024]);
        }
        for (int attempt = 0; attempt < 50 && set.entries() > 1; attempt++) {
            System.gc();
            Thread.sleep(20);
        }
        assertEquals(1, set.entries(), "the entries of collected objects are dropped; the one still referenced stays");
        assertFalse(set.add(kept), "the member still referenced is still in the set");
    }
}
