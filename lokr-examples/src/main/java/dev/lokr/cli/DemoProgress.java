package dev.lokr.cli;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A one-line progress bar with an ETA, redrawn in place with {@code \r}: {@code label [#####.....] 50% 75/150
 * loss 0.4321 ETA 3s}.
 */
final class DemoProgress {

    private static final int WIDTH = 24;

    private final PrintWriter err;
    private final boolean enabled;
    private String label;
    private int total;
    private long startNanos;
    private long lastDrawNanos;

    /**
     * @param err     where the bar is drawn
     * @param enabled false to draw nothing
     */
    DemoProgress(PrintWriter err, boolean enabled) {
        this.err = err;
        this.enabled = enabled;
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
        if (done == total && enabled) {
            err.println();
            err.flush();
        }
    }

    private void draw(int done, double loss, boolean force) {
        if (!enabled) {
            return;
        }
        long now = System.nanoTime();
        if (!force && now - lastDrawNanos < 100_000_000L) {
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
        err.print(String.format(Locale.ROOT, "\r%-22s [%s] %3d%% %d/%d loss %s ETA %s   ", label, bar,
                100L * done / total, done, total, lossText, done == total ? String.format(Locale.ROOT, "done in %.1fs", elapsed) : eta));
        err.flush();
    }
}
