package dev.lokr.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes files so that a crash or a failure never leaves a half-written one: the one implementation
 * behind {@link SafetensorsWriter}, {@code lokr merge} and the demo's report.
 *
 * <p>Everything is written to a temporary file in the target's folder ({@code .lokr-<random>.tmp}),
 * forced to disk, given the permissions of the file it replaces (or {@code rw-r--r--}), then moved
 * over the target with {@link StandardCopyOption#ATOMIC_MOVE}: readers see either the old file or the
 * complete new one. A target that is a symbolic link replaces (or creates) the file it points to and
 * keeps the link. A target that exists but is not a regular file (a folder, a pipe, a device, a
 * socket) is refused. If anything fails, the temporary file is deleted and an existing target is
 * left untouched; if the JVM is stopped meanwhile (Ctrl-C, SIGTERM), a shutdown hook deletes it.
 */
public final class AtomicFiles {
  private static final Logger log = LoggerFactory.getLogger(AtomicFiles.class);

  /** The name prefix of the temporary file written beside the target. */
  static final String TEMP_PREFIX = ".lokr-";

  private AtomicFiles() {}

  /** Writes a file's content to a channel. */
  @FunctionalInterface
  public interface ChannelWriter {
    /**
     * @param ch the temporary file, open for writing at position 0
     * @throws IOException if writing fails
     */
    void writeTo(FileChannel ch) throws IOException;
  }

  /**
   * Writes {@code bytes} to {@code target} atomically.
   *
   * @param target the file to create or replace
   * @param bytes its new content
   * @throws IOException if {@link #requireWritable} refuses the target or writing fails; the target
   *     is then unchanged and no temporary file is left
   */
  public static void write(Path target, byte[] bytes) throws IOException {
    Objects.requireNonNull(bytes, "bytes");
    write(target, ch -> {
      ByteBuffer b = ByteBuffer.wrap(bytes);
      while (b.hasRemaining()) {
        ch.write(b);
      }
    });
  }

  /**
   * Writes a file atomically: {@code body} writes the temporary file, which then replaces the
   * target.
   *
   * @param target the file to create or replace
   * @param body writes the content
   * @throws IOException if {@link #requireWritable} refuses the target, or {@code body} or the
   *     replacement fails; the target is then unchanged and no temporary file is left (unchecked
   *     exceptions and errors from {@code body} leave it so too, and pass through)
   */
  public static void write(Path target, ChannelWriter body) throws IOException {
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(body, "body");
    Path absolute = requireWritable(target);
    Path dir = absolute.getParent();
    // a short fixed prefix: the target's own name may already be as long as the file system allows
    Path tmp = Files.createTempFile(dir, TEMP_PREFIX, ".tmp");
    // if the JVM is stopped (Ctrl-C, SIGTERM) before it replaces the target, a shutdown hook deletes it
    ExitDeletion.register(tmp);
    boolean moved = false;
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        body.writeTo(ch);
        ch.force(true);
      }
      // only now: a read-only target's permissions would have stopped the writes above
      matchPermissions(tmp, absolute);
      try {
        Files.move(tmp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException(target + ": cannot replace the file atomically from " + tmp, e);
      }
      moved = true;
      syncDirectory(dir);
    } catch (Throwable t) {
      if (!moved) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException suppressed) {
          t.addSuppressed(suppressed);
        }
      }
      throw t;
    } finally {
      ExitDeletion.unregister(tmp);
    }
  }

  /**
   * Refuses a target whose folder is missing or not writable, and a target that exists but is not
   * a regular file (a folder, a named pipe, a device, a socket: replacing one by a file would
   * destroy it, {@code /dev/null} included), naming the target (not the temporary file that would
   * fail later). Callers that do long work before writing call it first.
   *
   * @param target the file to write, as given (a symbolic link's file is the one written)
   * @return the file that writing {@code target} replaces: its folder resolved by the file system
   *     (symbolic links and {@code ..} as the OS follows them), and a symbolic link followed through
   *     chains of links, also when it dangles (its file is then created, and the link stays)
   * @throws IOException naming {@code target} and the problem
   */
  public static Path requireWritable(Path target) throws IOException {
    Objects.requireNonNull(target, "target");
    if (target.toString().isEmpty()) {
      throw new IOException("the output path is empty; name a file to write");
    }
    Path real = realTarget(target);
    Path dir = real.getParent();
    if (dir == null || !Files.isDirectory(dir)) {
      throw new NoSuchFileException(target.toString(), null, "its folder " + dir + " does not exist");
    }
    if (Files.isDirectory(target) || Files.isDirectory(real)) {
      throw new IOException(target + ": is a directory, cannot write a file there");
    }
    if (Files.exists(real) && !Files.isRegularFile(real)) {
      throw new IOException(target + ": is not a regular file (a pipe, device or socket); lokr replaces only "
          + "regular files");
    }
    if (!Files.isWritable(dir)) {
      throw new AccessDeniedException(target.toString(), null, "cannot create files in its folder " + dir);
    }
    return real;
  }

  /** See {@link #requireWritable}'s return value; a missing folder is kept as given, for it to report. */
  private static Path realTarget(Path target) throws IOException {
    Path at = target.toAbsolutePath();
    for (int hops = 0; ; hops++) {
      Path parent = at.getParent();
      if (parent != null && Files.isDirectory(parent)) {
        at = parent.toRealPath().resolve(at.getFileName());
      }
      if (!Files.isSymbolicLink(at)) {
        return at;
      }
      if (hops == 40) {
        throw new FileSystemException(target.toString(), null, "too many levels of symbolic links");
      }
      at = at.resolveSibling(Files.readSymbolicLink(at));
    }
  }

  /**
   * Temporary files are created owner-only; give the new file the permissions of the file it
   * replaces, or rw-r--r-- for a new file, where the file system has POSIX permissions.
   */
  private static void matchPermissions(Path tmp, Path target) throws IOException {
    if (!Files.getFileStore(tmp).supportsFileAttributeView(PosixFileAttributeView.class)) {
      return;
    }
    Set<PosixFilePermission> perms;
    try {
      perms = Files.getPosixFilePermissions(target);
    } catch (NoSuchFileException e) {
      perms = PosixFilePermissions.fromString("rw-r--r--");
    }
    Files.setPosixFilePermissions(tmp, perms);
  }

  /** Best effort: makes the rename durable on file systems that support syncing a directory. */
  private static void syncDirectory(Path dir) {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException | RuntimeException e) {
      log.debug("could not sync directory {}: {}", dir, e.toString());
    }
  }
}
