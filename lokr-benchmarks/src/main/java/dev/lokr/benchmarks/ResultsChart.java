package dev.lokr.benchmarks;

import dev.lokr.io.AtomicFiles;
import dev.lokr.io.Json;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns JMH JSON results ({@code -rf json -rff FILE}) of {@link TrainStepBenchmark} into a bar chart
 * (PNG) of each method's time relative to {@code frozenBase}, one bar group per parameter setting,
 * and prints the same figures as a markdown table.
 *
 * <pre>{@code java -cp benchmarks.jar dev.lokr.benchmarks.ResultsChart out.png results1.json [results2.json ...]}</pre>
 */
public final class ResultsChart {

    private ResultsChart() {
    }

    /**
     * @param args the PNG to write, then one or more JMH JSON result files
     * @throws IOException if a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: ResultsChart OUT.png RESULTS.json [RESULTS.json ...]");
            System.exit(2);
        }
        List<Map<?, ?>> runs = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            Object parsed = Json.parse(Files.readString(Path.of(args[i]), StandardCharsets.UTF_8));
            if (!(parsed instanceof List)) {
                throw new IOException(args[i] + ": not a JMH JSON result list");
            }
            for (Object o : (List<?>) parsed) {
                runs.add((Map<?, ?>) o);
            }
        }
        // setting -> method -> ms/op
        Map<String, Map<String, Double>> scores = new LinkedHashMap<>();
        List<Map<?, ?>> params = new ArrayList<>();
        runs.forEach(run -> params.add(run.get("params") == null ? Map.of() : (Map<?, ?>) run.get("params")));
        for (int i = 0; i < runs.size(); i++) {
            Map<?, ?> run = runs.get(i);
            String bench = String.valueOf(run.get("benchmark"));
            String method = bench.substring(bench.lastIndexOf('.') + 1);
            String setting = params.get(i).isEmpty() ? "" : setting(params.get(i), params);
            Map<?, ?> primary = (Map<?, ?>) run.get("primaryMetric");
            double score = ((Number) primary.get("score")).doubleValue();
            scores.computeIfAbsent(setting, k -> new LinkedHashMap<>()).put(method, score);
        }
        List<String> methods = new ArrayList<>();
        scores.values().forEach(m -> m.keySet().forEach(k -> {
            if (!methods.contains(k)) {
                methods.add(k);
            }
        }));
        StringBuilder table = new StringBuilder("| setting |");
        methods.forEach(m -> table.append(' ').append(m).append(" |"));
        table.append("\n|---|");
        methods.forEach(m -> table.append("---|"));
        table.append('\n');
        CategoryChart chart = new CategoryChartBuilder().width(1000).height(520)
                .title("One dense training step, time / frozenBase (lower is better)")
                .xAxisTitle("method").yAxisTitle("ratio to frozenBase").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setXAxisLabelRotation(30);
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setYAxisMin(0.5);
        for (Map.Entry<String, Map<String, Double>> e : scores.entrySet()) {
            Double base = e.getValue().get("frozenBase");
            table.append("| ").append(e.getKey()).append(" |");
            List<String> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (String m : methods) {
                Double v = e.getValue().get(m);
                if (v == null) {
                    table.append(" |");
                    continue;
                }
                table.append(String.format(Locale.ROOT, " %.1f ms", v));
                if (base != null) {
                    table.append(String.format(Locale.ROOT, " (%.2fx)", v / base));
                    xs.add(m);
                    ys.add(v / base);
                }
                table.append(" |");
            }
            table.append('\n');
            if (!xs.isEmpty()) {
                chart.addSeries(e.getKey(), xs, ys);
            }
        }
        String png = args[0].endsWith(".png") ? args[0] : args[0] + ".png";
        AtomicFiles.write(Path.of(png), BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
        System.out.print(table);
    }

    /**
     * The row a JMH run belongs to: {@code dims} and {@code batch}, then every other parameter whose value
     * differs between the runs ({@code -p weightOrder=f,c}, several ranks), so that runs of different settings
     * never share a row.
     *
     * @param params the run's JMH parameters
     * @param all    the parameters of every run read
     * @return e.g. {@code 4096x4096 b256}, or {@code 4096x4096 b256 weightOrder=c}
     */
    static String setting(Map<?, ?> params, List<Map<?, ?>> all) {
        StringBuilder s = new StringBuilder(params.get("dims") + " b" + params.get("batch"));
        java.util.TreeMap<String, String> others = new java.util.TreeMap<>();
        params.forEach((k, v) -> others.put(String.valueOf(k), String.valueOf(v)));
        others.remove("dims");
        others.remove("batch");
        others.forEach((k, v) -> {
            boolean varies = all.stream().anyMatch(p -> !v.equals(String.valueOf(p.get(k))));
            if (varies) {
                s.append(' ').append(k).append('=').append(v);
            }
        });
        return s.toString();
    }
}
