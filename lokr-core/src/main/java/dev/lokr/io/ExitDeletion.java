package dev.lokr.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Files that one shutdown hook deletes if the JVM ends (normal exit, Ctrl-C, SIGTERM) while they are
 * registered: the one implementation behind {@link AtomicFiles}' temporary files and the DL4J module's
 * file-backed feature caches. Unlike {@link java.io.File#deleteOnExit()}, a registration is withdrawn once
 * the file is dealt with, so a file created later at the same path is left alone and the set does not
 * grow with every file ever registered. Only a hard kill (SIGKILL, a crash) skips the hook.
 */
public final class ExitDeletion {
  private static final Logger log = LoggerFactory.getLogger(ExitDeletion.class);

  private static final Set<Path> FILES = ConcurrentHashMap.newKeySet();
  private static final AtomicBoolean HOOK_ADDED = new AtomicBoolean();

  private ExitDeletion() {}

  /**
   * Registers a file for deletion when the JVM ends, adding the shutdown hook on first use.
   *
   * @param file the file; not modified now
   */
  public static void register(Path file) {
    Objects.requireNonNull(file, "file");
    if (HOOK_ADDED.compareAndSet(false, true)) {
      try {
        Runtime.getRuntime().addShutdownHook(new Thread(ExitDeletion::deleteRegistered, "lokr-exit-cleanup"));
      } catch (IllegalStateException | SecurityException e) {
        // the JVM is already ending, or may not be given a hook: nothing to register with
        log.debug("no shutdown hook for files to delete at exit: {}", e.toString());
      }
    }
    FILES.add(file);
  }

  /**
   * Withdraws a registration: the file (or a later one at its path) is no longer deleted at exit.
   *
   * @param file a file given to {@link #register}; nothing happens for another
   */
  public static void unregister(Path file) {
    FILES.remove(Objects.requireNonNull(file, "file"));
  }

  /** @return whether {@code file} is registered now */
  static boolean isRegistered(Path file) {
    return FILES.contains(file);
  }

  /** Deletes the registered files (the JVM is ending). */
  private static void deleteRegistered() {
    for (Path f : FILES) {
      try {
        Files.deleteIfExists(f);
      } catch (IOException | RuntimeException e) {
        // the JVM is ending: nothing more can be done about it
      }
    }
  }
}
