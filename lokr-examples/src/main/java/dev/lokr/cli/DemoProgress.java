package dev.lokr.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A progress bar with an ETA: {@code label [#####.....] 50% 75/150 loss 0.4321 ETA 3s}. On a terminal it is
 * one line, redrawn in place with {@code \r}; into a file or a pipe it is a line at the start, at each
 * quarter and at the end, so a log holds a few readable lines instead of every redraw.
 */
final class DemoProgress {

    private static final int WIDTH = 24;

    private final PrintWriter err;
    private final boolean enabled;
    private final boolean redraw;
    private String label;
    private int lastQuarter;
    private int total;
    private long startNanos;
    private long lastDrawNanos;

    /**
     * @param err     where the bar is drawn
     * @param enabled false to draw nothing
     * @param redraw  true to redraw one line in place (a terminal), false for a few whole lines
     */
    DemoProgress(PrintWriter err, boolean enabled, boolean redraw) {
        this.err = err;
        this.enabled = enabled;
        this.redraw = redraw;
    }

    /**
     * Whether standard error is a terminal. Java tells this only for standard input and output together
     * ({@link System#console()}); on Linux the descriptor's link under {@code /proc/self/fd} says it for
     * standard error itself.
     *
     * @return true for a terminal
     */
    static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return System.console() != null;
        }
    }

    /**
     * Starts a new bar.
     *
     * @param label what is running
     * @param total number of steps, at least 1
     */
    void start(String label, int total) {
        if (total < 1) {
            throw new IllegalArgumentException("total must be at least 1, got " + total);
        }
        this.label = label;
        this.total = total;
        this.startNanos = System.nanoTime();
        this.lastDrawNanos = 0;
        this.lastQuarter = 0;
        draw(0, Double.NaN, true);
    }

    /**
     * Reports that a step finished; redraws at most every 100 ms and on the last step.
     *
     * @param done steps finished, 1..total
     * @param loss the latest loss
     */
    void step(int done, double loss) {
        draw(done, loss, done == total);
        if (done == total && enabled && redraw) {
            err.println();
            err.flush();
        }
    }

    private void draw(int done, double loss, boolean force) {
        if (!enabled) {
            return;
        }
        long now = System.nanoTime();
        if (redraw ? !force && now - lastDrawNanos < 100_000_000L : !force && !nextQuarter(done)) {
            return;
        }
        lastDrawNanos = now;
        int filled = (int) ((long) WIDTH * done / total);
        StringBuilder bar = new StringBuilder(WIDTH);
        for (int i = 0; i < WIDTH; i++) {
            bar.append(i < filled ? '#' : '.');
        }
        double elapsed = (now - startNanos) / 1e9;
        String eta = done == 0 ? "?" : String.format(Locale.ROOT, "%.0fs", elapsed / done * (total - done));
        String lossText = Double.isNaN(loss) ? "-" : String.format(Locale.ROOT, "%.4f", loss);
        String line = String.format(Locale.ROOT, "%-24s [%s] %3d%% %d/%d loss %s ETA %s", label, bar,
                100L * done / total, done, total, lossText, done == total ? String.format(Locale.ROOT, "done in %.1fs", elapsed) : eta);
        if (redraw) {
            err.print("\r" + line + "   ");
        } else {
            err.println(line);
        }
        err.flush();
    }

    /** Whether {@code done} steps reach a quarter not drawn yet (1, 2, 3; the end is drawn anyway). */
    private boolean nextQuarter(int done) {
        int quarter = (int) (4L * done / total);
        if (quarter > lastQuarter && quarter < 4) {
            lastQuarter = quarter;
            return true;
        }
        return false;
    }
}
