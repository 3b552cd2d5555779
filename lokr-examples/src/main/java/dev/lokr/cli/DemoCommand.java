package dev.lokr.cli;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import dev.lokr.io.Json;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.LycorisWriter;
import dev.lokr.io.AtomicFiles;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParams;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code lokr demo}: the end-to-end LoKR demonstration on synthetic data.
 *
 * <ol>
 *   <li>pretrains a small convolutional network ({@code conv} 3x3x8, max-pool, {@code dense} 64,
 *       {@code head} softmax) on task A: 1x12x12 images of random prototypes plus noise;</li>
 *   <li>moves to task B (mirrored prototypes, shifted labels), on which the base does poorly;</li>
 *   <li>adapts the base with LoKR on {@code conv}, {@code dense} and {@code head}, training only the
 *       adapter tensors;</li>
 *   <li>fine-tunes a copy of the base fully, for the same number of steps, for comparison (accuracy,
 *       trainable parameters, step time, memory of trainable parameters plus updater state);</li>
 *   <li>merges the adapter into a plain copy of the base and checks that its outputs equal the adapted
 *       network's;</li>
 *   <li>saves the adapter in the LyCORIS safetensors layout, reloads it into a fresh adapted network and
 *       checks the outputs again;</li>
 *   <li>writes a loss-curve PNG and {@code summary.md} into the output folder.</li>
 * </ol>
 * The last line on standard output is one JSON object with the results. Exit codes: 0 success, 1 failure
 * (one-line reason on standard error), 2 bad options.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        versionProvider = LokrCli.Version.class,
        description = "Pretrain a small network, adapt it to a new task with LoKR, compare with full "
                + "fine-tuning, merge, save and reload the adapter, and write a report.")
public final class DemoCommand implements Callable<Integer> {

    private static final Logger log = LoggerFactory.getLogger(DemoCommand.class);

    /** Layers that get an adapter. */
    static final List<String> TARGETS = List.of("conv", "dense", "head");

    private static final int SIDE = 12;
    private static final int CLASSES = 6;
    private static final int BATCH = 32;
    private static final int TEST_SIZE = 600;

    @Spec
    private CommandSpec spec;

    @Option(names = "--quick", description = "Fewer steps: finishes in well under a minute.")
    private boolean quick;

    /** The adapter's file name in {@code --out}. */
    static final String ADAPTER_FILE = "lokr-adapter.safetensors";

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "lokr-demo-report",
            description = "Report folder (default: ${DEFAULT-VALUE}).")
    private Path out;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of data and initialisation (default: ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--rank", defaultValue = "4", description = "LoKR rank (default: ${DEFAULT-VALUE}).")
    private int rank;

    @Option(names = "--factor", defaultValue = "-1", description = "LoKR factor, -1 for balanced (default: ${DEFAULT-VALUE}).")
    private int factor;

    /** The most adaptation steps {@code --steps} accepts. */
    static final int MAX_STEPS = 1_000_000;

    @Option(names = "--steps", description = "Adaptation steps, 1 to 1000000 (default: 100 with --quick, else 400).")
    private Integer steps;

    @Option(names = "--no-progress", description = "Do not draw progress bars on standard error.")
    private boolean noProgress;

    /**
     * Runs the demo as a stand-alone program.
     *
     * @param args the options
     */
    public static void main(String[] args) {
        System.exit(new CommandLine(new DemoCommand()).execute(args));
    }

    @Override
    public Integer call() {
        validate();
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        try {
            Map<String, Object> result = run(stdout, stderr);
            stdout.println(Json.write(result));
            stdout.flush();
            return 0;
        } catch (Exception | Error e) {
            CommandLine parent = spec.commandLine().getParent();
            return reportFailure(e, stderr,
                    parent != null && parent.getCommand() instanceof LokrCli && ((LokrCli) parent.getCommand()).verbose);
        }
    }

    /**
     * Reports a failed run: one line {@code demo failed: <reason>} on {@code stderr}, and the stack trace
     * with {@code --verbose}.
     *
     * @return the exit code, 1
     */
    static int reportFailure(Throwable e, PrintWriter stderr, boolean verbose) {
        log.debug("demo failed", e);
        stderr.println("demo failed: " + LokrCli.describe(e));
        if (verbose) {
            e.printStackTrace(stderr);
        }
        stderr.flush();
        return 1;
    }

    private void validate() {
        CommandLine cl = spec.commandLine();
        if (rank < 1) {
            throw new CommandLine.ParameterException(cl, "--rank must be at least 1, got " + rank);
        }
        if (factor != -1 && factor < 1) {
            throw new CommandLine.ParameterException(cl, "--factor must be -1 or at least 1, got " + factor);
        }
        if (steps != null && (steps < 1 || steps > MAX_STEPS)) {
            throw new CommandLine.ParameterException(
                    cl, "--steps must be from 1 to " + MAX_STEPS + ", got " + steps);
        }
        // the report is written at the end: find out now, not after the training, that it cannot be
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new CommandLine.ParameterException(cl, "--out must be a folder, got a file: " + out);
        }
        try {
            Files.createDirectories(out);
        } catch (IOException | SecurityException e) {
            throw new CommandLine.ParameterException(
                    cl, "--out folder " + out + " cannot be created: " + LokrCli.describe(e));
        }
        if (!Files.isWritable(out)) {
            throw new CommandLine.ParameterException(cl, "--out folder " + out + " is not writable");
        }
        for (String name : REPORT_FILES) {
            try {
                AtomicFiles.requireWritable(out.resolve(name));
            } catch (IOException e) {
                throw new CommandLine.ParameterException(cl, "--out folder " + out + ": " + LokrCli.describe(e));
            }
        }
    }

    /** The files the demo writes into {@code --out}. */
    private static final List<String> REPORT_FILES =
            List.of(ADAPTER_FILE, DemoReport.CHART_FILE, DemoReport.SUMMARY_FILE);

    private Map<String, Object> run(PrintWriter stdout, PrintWriter stderr) throws IOException {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        long t0 = System.nanoTime();
        int pretrainSteps = quick ? 120 : 600;
        int adaptSteps = steps != null ? steps : quick ? 100 : 400;
        DemoProgress progress = new DemoProgress(stderr, !noProgress, DemoProgress.stderrIsTerminal());

        DemoData data = new DemoData(CLASSES, SIDE, 0.35, seed);
        DataSet testA = data.batch(false, TEST_SIZE, seed + 1);
        DataSet testB = data.batch(true, TEST_SIZE, seed + 2);

        // 1. base on task A
        MultiLayerNetwork base = new MultiLayerNetwork(baseConfiguration(seed));
        base.init();
        train(base, data, false, pretrainSteps, seed + 1000, progress, "pretrain (task A)");
        double baseAccA = accuracy(base, testA);
        double baseAccB = accuracy(base, testB);
        stdout.printf(Locale.ROOT, "base: task A accuracy %.3f, task B accuracy %.3f%n", baseAccA, baseAccB);

        // 2-3. LoKR on task B
        LokrAdapter options = LokrAdapter.builder().rank(rank).alpha(rank).factor(factor).seed(seed).build();
        LokrNetwork<MultiLayerNetwork> lokrNet = adapt(base, options);
        MultiLayerNetwork adapted = lokrNet.network();
        long totalParams = base.numParams();
        long lokrTrainable = lokrNet.adapterParamCount();
        Run lokrRun = train(adapted, data, true, adaptSteps, seed + 2000, progress, "LoKR adapt (task B)");
        double lokrAccB = accuracy(adapted, testB);
        long lokrMemory = 4L * (lokrTrainable + updaterState(adapted));

        // 4. full fine-tune of a copy on task B
        MultiLayerNetwork full = base.clone();
        for (org.deeplearning4j.nn.conf.layers.Layer l : layerConfs(full)) {
            if (l instanceof org.deeplearning4j.nn.conf.layers.BaseLayer) {
                ((org.deeplearning4j.nn.conf.layers.BaseLayer) l).setIUpdater(new Adam(2e-3));
            }
        }
        full.init(full.params().dup(), false);
        Run fullRun = train(full, data, true, adaptSteps, seed + 2000, progress, "full fine-tune (task B)");
        double fullAccB = accuracy(full, testB);
        long fullMemory = 4L * (full.numParams() + updaterState(full));

        // 5. merge
        MultiLayerNetwork merged = lokrNet.merge();
        double mergeDiff = maxAbsDiff(adapted.output(testB.getFeatures(), false),
                merged.output(testB.getFeatures(), false));
        double mergedAccB = accuracy(merged, testB);

        // 6. save and reload
        Path adapterFile = out.resolve(ADAPTER_FILE);
        saveLycoris(lokrNet, options, adapterFile);
        MultiLayerNetwork reloaded = loadLycoris(base, options, adapterFile).network();
        double reloadDiff = maxAbsDiff(adapted.output(testB.getFeatures(), false),
                reloaded.output(testB.getFeatures(), false));
        if (!(reloadDiff < 1e-4)) {
            throw new IllegalStateException("reloaded adapter differs from the trained one: max abs output diff "
                    + reloadDiff + " (must be < 1e-4)");
        }

        // 7. report
        Path png = DemoReport.lossChart(out.resolve(DemoReport.CHART_FILE), lokrRun.losses, fullRun.losses);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("baseAccuracy", baseAccB);
        result.put("baseAccuracyTaskA", baseAccA);
        result.put("adaptedAccuracy", lokrAccB);
        result.put("fullFinetuneAccuracy", fullAccB);
        result.put("mergedAccuracy", mergedAccB);
        result.put("trainableParams", lokrTrainable);
        result.put("fullFinetuneTrainableParams", full.numParams());
        result.put("totalParams", totalParams);
        result.put("lokrStepMs", lokrRun.stepMs);
        result.put("fullFinetuneStepMs", fullRun.stepMs);
        result.put("lokrTrainingMemoryBytes", lokrMemory);
        result.put("fullFinetuneTrainingMemoryBytes", fullMemory);
        result.put("mergeMaxAbsDiff", mergeDiff);
        result.put("reloadMaxAbsDiff", reloadDiff);
        result.put("adapterFile", adapterFile.toAbsolutePath().toString());
        result.put("adapterFileBytes", Files.size(adapterFile));
        result.put("lossChart", png.toAbsolutePath().toString());
        result.put("steps", adaptSteps);
        result.put("seconds", Math.round(seconds * 10) / 10.0);
        Path summary = DemoReport.summary(out.resolve(DemoReport.SUMMARY_FILE), result, options, TARGETS);
        result.put("summary", summary.toAbsolutePath().toString());
        stdout.printf(Locale.ROOT, "task B accuracy: base %.3f, LoKR %.3f (%d trainable params), full fine-tune %.3f (%d)%n",
                baseAccB, lokrAccB, lokrTrainable, fullAccB, full.numParams());
        stdout.printf(Locale.ROOT, "merge max abs diff %.3g, reload max abs diff %.3g; report in %s%n",
                mergeDiff, reloadDiff, out.toAbsolutePath());
        return result;
    }

    /** The base network: conv 3x3x8 (ReLU), 2x2 max-pool, dense 64 (ReLU), softmax head. */
    static MultiLayerConfiguration baseConfiguration(long seed) {
        return new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.FLOAT)
                .weightInit(WeightInit.XAVIER)
                .updater(new Adam(3e-3))
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv").nOut(8).activation(Activation.RELU).build())
                .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).name("pool")
                        .kernelSize(2, 2).stride(2, 2).build())
                .layer(new DenseLayer.Builder().name("dense").nOut(64).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("head").nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(SIDE, SIDE, 1))
                .build();
    }

    /** Losses per step and median step time of one training run. */
    private static final class Run {
        final double[] losses;
        final double stepMs;

        Run(double[] losses, double stepMs) {
            this.losses = losses;
            this.stepMs = stepMs;
        }
    }

    private static Run train(MultiLayerNetwork net, DemoData data, boolean taskB, int steps, long seed,
                             DemoProgress progress, String label) {
        double[] losses = new double[steps];
        // the first steps (JIT, workspaces learning their sizes) are not timed; the median resists a slow step
        int skip = Math.min(5, steps - 1);
        long[] times = new long[steps - skip];
        progress.start(label, steps);
        for (int i = 0; i < steps; i++) {
            DataSet batch = data.batch(taskB, BATCH, seed + i);
            long s = System.nanoTime();
            net.fit(batch);
            long e = System.nanoTime();
            if (i >= skip) {
                times[i - skip] = e - s;
            }
            losses[i] = net.score();
            if (!Double.isFinite(losses[i])) {
                throw new IllegalStateException(label + ": loss became " + losses[i] + " at step " + i);
            }
            progress.step(i + 1, losses[i]);
        }
        return new Run(losses, medianMs(times));
    }

    /** The median of step times in nanoseconds, in ms rounded to 0.001; sorts {@code nanos}, at least one. */
    static double medianMs(long[] nanos) {
        java.util.Arrays.sort(nanos);
        int n = nanos.length;
        double median = n % 2 == 1 ? nanos[n / 2] : (nanos[n / 2 - 1] + nanos[n / 2]) / 2.0;
        return Math.round(median / 1e6 * 1000) / 1000.0;
    }

    /** Fraction of samples whose arg-max output is the label. */
    static double accuracy(MultiLayerNetwork net, DataSet ds) {
        INDArray pred = net.output(ds.getFeatures(), false).argMax(1);
        INDArray truth = ds.getLabels().argMax(1);
        long n = truth.length();
        long right = 0;
        for (long i = 0; i < n; i++) {
            if (pred.getLong(i) == truth.getLong(i)) {
                right++;
            }
        }
        return (double) right / n;
    }

    static double maxAbsDiff(INDArray a, INDArray b) {
        return a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
    }

    private static List<org.deeplearning4j.nn.conf.layers.Layer> layerConfs(MultiLayerNetwork net) {
        List<org.deeplearning4j.nn.conf.layers.Layer> out = new ArrayList<>();
        for (NeuralNetConfiguration c : net.getLayerWiseConfigurations().getConfs()) {
            out.add(c.getLayer());
        }
        return out;
    }

    /**
     * Adapts every {@link #TARGETS} layer of {@code base} with {@link LokrNetworks#apply}; the adapter tensors
     * train with Adam (learning rate 1e-2), the base weights are frozen.
     *
     * @param base    the pretrained network (not modified)
     * @param options the adapter options
     * @return the adapted network, whose outputs equal the base's until it trains
     */
    static LokrNetwork<MultiLayerNetwork> adapt(MultiLayerNetwork base, LokrAdapter options) {
        LokrNetwork<MultiLayerNetwork> net = LokrNetworks.apply(options, base,
                Targets.names(TARGETS.toArray(new String[0])));
        for (String name : net.adaptedLayers()) {
            net.layerConf(name).setUpdater(new Adam(1e-2));
        }
        return net;
    }

    private static long updaterState(MultiLayerNetwork net) {
        INDArray state = net.getUpdater().getStateViewArray();
        return state == null ? 0 : state.length();
    }

    /**
     * Saves the adapters in the LyCORIS layout ({@code lycoris_<layer>.lokr_w1}, ..., {@code .alpha}) with
     * {@link LycorisWriter}.
     */
    static void saveLycoris(LokrNetwork<MultiLayerNetwork> net, LokrAdapter options, Path file) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("lokr.producer", "lokr demo");
        meta.put("lokr.options", options.toString());
        LycorisWriter.save(file, net.adapterParams(), meta);
    }

    /**
     * Reads an adapter file with {@link AdapterFile} into a fresh adapted copy of {@code base}.
     *
     * @throws IllegalStateException if the file lacks an adapted layer's module
     */
    static LokrNetwork<MultiLayerNetwork> loadLycoris(MultiLayerNetwork base, LokrAdapter options, Path file)
            throws IOException {
        LokrNetwork<MultiLayerNetwork> net = adapt(base, options);
        Map<String, LokrParams> loaded = new LinkedHashMap<>();
        try (AdapterFile adapter = AdapterFile.read(file)) {
            for (Map.Entry<String, LokrLayout> e : net.layouts().entrySet()) {
                String module = null;
                for (String candidate : adapter.candidateNames(e.getKey())) {
                    if (adapter.modules().contains(candidate)) {
                        module = candidate;
                        break;
                    }
                }
                if (module == null) {
                    throw new IllegalStateException(file + " has no module for layer '" + e.getKey()
                            + "'; its modules are " + adapter.modules());
                }
                loaded.put(e.getKey(), adapter.resolve(module, e.getValue().weightShape(), DataType.FLOAT));
            }
        }
        net.loadAdapterParams(loaded);
        return net;
    }
}
