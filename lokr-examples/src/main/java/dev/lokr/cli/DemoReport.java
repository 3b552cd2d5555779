package dev.lokr.cli;

import dev.lokr.LokrAdapter;
import dev.lokr.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The demo's report files: the loss-curve PNG and {@code summary.md}. */
final class DemoReport {

    /** The chart's file name. */
    static final String CHART_FILE = "loss-curves.png";

    /** The summary's file name. */
    static final String SUMMARY_FILE = "summary.md";

    /** Below this many steps a curve also marks its points (one step is a single point, no line). */
    private static final int MARK_POINTS_BELOW = 20;

    private DemoReport() {
    }

    /**
     * Draws the training losses of both runs.
     *
     * @param png   the PNG file to write
     * @param lokr  LoKR loss per step
     * @param full  full fine-tuning loss per step
     * @return the PNG file
     * @throws IOException if writing fails
     */
    static Path lossChart(Path png, double[] lokr, double[] full) throws IOException {
        XYChart chart = new XYChartBuilder().width(800).height(480)
                .title("Task B training loss (EMA-smoothed, 0.9)").xAxisTitle("step").yAxisTitle("loss (MCXENT)").build();
        chart.getStyler().setYAxisDecimalPattern("0.###");
        chart.addSeries("LoKR (adapters only)", steps(lokr.length), smooth(lokr))
                .setMarker(lokr.length < MARK_POINTS_BELOW ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
        chart.addSeries("full fine-tune", steps(full.length), smooth(full))
                .setMarker(full.length < MARK_POINTS_BELOW ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
        AtomicFiles.write(png, BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
        return png;
    }

    private static double[] steps(int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i + 1;
        }
        return x;
    }

    /** Exponential moving average (0.9) so the per-batch noise does not hide the trend. */
    private static double[] smooth(double[] y) {
        double[] out = new double[y.length];
        double ema = y.length == 0 ? 0 : y[0];
        for (int i = 0; i < y.length; i++) {
            ema = 0.9 * ema + 0.1 * y[i];
            out[i] = i == 0 ? y[0] : ema;
        }
        return out;
    }

    /**
     * Writes the comparison table.
     *
     * @param file    the markdown file
     * @param r       the demo's results (keys as in its JSON line)
     * @param options the adapter options
     * @param targets the adapted layers
     * @return the file
     * @throws IOException if writing fails
     */
    static Path summary(Path file, Map<String, Object> r, LokrAdapter options, List<String> targets) throws IOException {
        StringBuilder md = new StringBuilder();
        md.append("# LoKR demo report\n\n");
        md.append("Base network (conv 3x3x8, max-pool, dense 64, softmax head) pretrained on task A "
                + "(12x12 noisy prototypes), then moved to task B (mirrored prototypes, shifted labels).\n");
        long steps = (long) num(r, "steps");
        md.append(String.format(Locale.ROOT, "LoKR: rank %d, alpha %s, factor %d on layers %s; %d training step%s each.%n%n",
                options.rank(), fmt(options.alpha()), options.factor(), String.join(", ", targets), steps,
                steps == 1 ? "" : "s"));
        md.append("| | base (no adaptation) | LoKR | full fine-tune |\n");
        md.append("|---|---:|---:|---:|\n");
        md.append(String.format(Locale.ROOT, "| task B accuracy | %.3f | %.3f | %.3f |%n",
                num(r, "baseAccuracy"), num(r, "adaptedAccuracy"), num(r, "fullFinetuneAccuracy")));
        md.append(String.format(Locale.ROOT, "| trainable params | 0 | %d | %d |%n",
                (long) num(r, "trainableParams"), (long) num(r, "fullFinetuneTrainableParams")));
        md.append(String.format(Locale.ROOT, "| median step time (ms, batch 32) | - | %.2f | %.2f |%n",
                num(r, "lokrStepMs"), num(r, "fullFinetuneStepMs")));
        md.append(String.format(Locale.ROOT, "| trainable params + updater state (bytes) | - | %d | %d |%n%n",
                (long) num(r, "lokrTrainingMemoryBytes"), (long) num(r, "fullFinetuneTrainingMemoryBytes")));
        md.append(String.format(Locale.ROOT, "- total parameters of the base: %d%n", (long) num(r, "totalParams")));
        md.append(String.format(Locale.ROOT, "- base accuracy on task A: %.3f%n", num(r, "baseAccuracyTaskA")));
        md.append(String.format(Locale.ROOT, "- merged network: accuracy %.3f, max |merged - adapted| output %.3g%n",
                num(r, "mergedAccuracy"), num(r, "mergeMaxAbsDiff")));
        md.append(String.format(Locale.ROOT, "- adapter file (LyCORIS layout): `%s` (%d bytes), reloaded: max |reloaded - adapted| output %.3g%n",
                Path.of(String.valueOf(r.get("adapterFile"))).getFileName(), (long) num(r, "adapterFileBytes"),
                num(r, "reloadMaxAbsDiff")));
        md.append("- loss curves: `" + CHART_FILE + "`\n");
        md.append(String.format(Locale.ROOT, "- wall time: %.1f s%n", num(r, "seconds")));
        if (num(r, "lokrStepMs") > num(r, "fullFinetuneStepMs")) {
            md.append("\nA LoKR step took longer than a full fine-tuning step here. On layers this small the adapters'"
                    + " extra work costs more than it saves: a frozen dense weight skips its weight-gradient product and"
                    + " its optimizer step, but the adapted conv layer still computes its full weight gradient. On large"
                    + " dense layers the saving dominates; see the README's Benchmarks for one 4096x4096 layer.\n");
        }
        AtomicFiles.write(file, md.toString().getBytes(StandardCharsets.UTF_8));
        return file;
    }

    private static double num(Map<String, Object> r, String key) {
        Object v = r.get(key);
        if (!(v instanceof Number)) {
            throw new IllegalArgumentException("report value '" + key + "' must be a number, got " + v);
        }
        return ((Number) v).doubleValue();
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
