package dev.lokr.cli;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import dev.lokr.dl4j.checkpoint.CheckpointedTrainer;
import dev.lokr.dl4j.checkpoint.Segmentation;
import dev.lokr.io.Json;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lokr memory-report}: measures peak memory and step time of training a deep LoKR-adapted
 * dense stack with gradient checkpointing off and on. See the command's help footer for the method.
 */
@Command(
        name = "memory-report",
        mixinStandardHelpOptions = true,
        versionProvider = LokrCli.Version.class,
        description =
                "Train a deep LoKR-adapted dense stack for a few steps with gradient checkpointing off, then on,"
                        + " and print the measured peak memory and step time of each (one line, or one JSON object with --json,"
                        + " per setting).",
        footer = {
            "",
            "Method: each setting runs in its own child JVM (same classpath), started with"
                    + " MALLOC_MMAP_THRESHOLD_=65536 so that glibc returns freed activation buffers to the OS at once."
                    + " Networks use no DL4J workspaces. The gradient array and updater state are allocated first; then,"
                    + " after a collection, the process resident set (JavaCPP Pointer.physicalBytes()) is the baseline."
                    + " --steps steps run while a sampler thread repeatedly calls System.gc(), reads the"
                    + " resident set and pauses 1 ms (a sample every few ms). ND4J's CPU buffers are freed when their"
                    + " Java objects are collected, so a sample is the live off-heap memory plus the JVM's own."
                    + " peakBytes is the largest sample; activationPeakBytes is peakBytes minus the baseline: the memory"
                    + " the steps themselves needed (activations and temporaries). Samples are discrete, so a spike"
                    + " shorter than a sampling cycle can be missed, and pages the allocator keeps after a free still"
                    + " count.",
            "stepMs comes from one more child JVM, started without the allocator setting (which turns every"
                    + " large allocation into an mmap and would tax the setting that allocates more): it builds both"
                    + " networks, runs one warm-up step each, then max(--steps, 5) rounds of one step without and one"
                    + " step with checkpointing back to back (a collection before each, outside the timed region, frees"
                    + " the previous step's buffers), and reports each setting's median step time.",
            "Off: DL4J's own MultiLayerNetwork.fit(DataSet). On: CheckpointedTrainer.fit(DataSet) with"
                    + " Segmentation.automatic() (up to four segments of the layers + 1 units, the output layer"
                    + " included: the last three of ceil(units / 4), the remainder first) unless --segment-every is"
                    + " given."
        })
final class MemoryReportCommand implements Callable<Integer> {

    @Option(
            names = "--layers",
            description = "Hidden dense layers (default ${DEFAULT-VALUE}).",
            defaultValue = "24")
    int layers;

    @Option(
            names = "--width",
            description = "Width of every dense layer (default ${DEFAULT-VALUE}).",
            defaultValue = "1024")
    int width;

    @Option(
            names = "--batch",
            description = "Batch size (default ${DEFAULT-VALUE}).",
            defaultValue = "256")
    int batch;

    @Option(
            names = "--steps",
            description = "Sampled steps per setting, and timed rounds (at least 5) (default ${DEFAULT-VALUE}).",
            defaultValue = "3")
    int steps;

    @Option(
            names = "--segment-every",
            description =
                    "Layers per checkpointed segment; 0 = Segmentation.automatic() (default ${DEFAULT-VALUE}).",
            defaultValue = "0")
    int segmentEvery;

    @Option(
            names = "--seed",
            description = "Random seed (default ${DEFAULT-VALUE}).",
            defaultValue = "42")
    long seed;

    @Option(names = "--json", description = "Print one JSON object per setting.")
    boolean json;

    @Option(
            names = "--setting",
            hidden = true,
            description = "Internal: measure one setting (off|on) in this JVM.")
    String setting;

    @Option(
            names = "--watch-parent",
            hidden = true,
            description = "Internal: end when standard input closes (the parent holds it open while it lives).")
    boolean watchParent;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    private static final int CLASSES = 10;
    static final int MAX_LAYERS = 1024;
    static final int MAX_WIDTH = 16384;
    static final int MAX_BATCH = 65536;
    static final int MAX_STEPS = 10_000;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        requireRange("--layers", layers, MAX_LAYERS);
        requireRange("--width", width, MAX_WIDTH);
        requireRange("--batch", batch, MAX_BATCH);
        requireRange("--steps", steps, MAX_STEPS);
        long need = estimatedBytes(layers, width, batch);
        long physical = physicalMemory();
        if (physical > 0 && need > physical) {
            throw new CommandLine.ParameterException(spec.commandLine(), String.format(Locale.ROOT,
                    "--layers %d --width %d --batch %d needs about %.1f GiB (parameters, gradients, updater state"
                            + " and activations), more than this machine's %.1f GiB; choose smaller values",
                    layers, width, batch, need / (double) (1L << 30), physical / (double) (1L << 30)));
        }
        if (segmentEvery < 0) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(), "--segment-every must be >= 0, got " + segmentEvery);
        }
        if (setting != null) {
            if (!setting.equals("on") && !setting.equals("off") && !setting.equals("time")) {
                throw new CommandLine.ParameterException(
                        spec.commandLine(), "--setting must be on, off or time, got " + setting);
            }
            if (watchParent) {
                exitWhenStdinCloses();
            }
            out.println(Json.write(setting.equals("time") ? time() : measure(setting.equals("on"))));
            out.flush();
            return 0;
        }
        List<Map<String, Object>> results = new ArrayList<>();
        for (String s : new String[] {"off", "on"}) {
            results.add(runChild(s, true));
        }
        Map<String, Object> times = runChild("time", false);
        results.get(0).put("stepMs", times.get("offStepMs"));
        results.get(1).put("stepMs", times.get("onStepMs"));
        for (Map<String, Object> r : results) {
            out.println(json ? Json.write(r) : text(r));
        }
        if (!json) {
            double off = ((Number) results.get(0).get("activationPeakBytes")).doubleValue();
            double on = ((Number) results.get(1).get("activationPeakBytes")).doubleValue();
            double tOff = ((Number) results.get(0).get("stepMs")).doubleValue();
            double tOn = ((Number) results.get(1).get("stepMs")).doubleValue();
            out.printf(
                    Locale.ROOT,
                    "activation memory %+.1f%%, step time %+.1f%% with checkpointing%n",
                    off > 0 ? 100.0 * (on - off) / off : Double.NaN,
                    100.0 * (tOn - tOff) / tOff);
        }
        out.flush();
        return 0;
    }

    private void requireRange(String name, int v, int max) {
        if (v < 1 || v > max) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(), name + " must be from 1 to " + max + ", got " + v);
        }
    }

    /**
     * Bytes a run needs, roughly: per layer {@code width^2 + width} frozen parameters (float32) held twice
     * (values and DL4J's gradient array; the adapters and their Adam state are small) and about four
     * {@code batch x width} activation arrays.
     */
    static long estimatedBytes(int layers, int width, int batch) {
        double perLayer = 4.0 * 2 * ((double) width * width + width) + 4.0 * 4 * batch * (double) width;
        return (long) Math.min(Long.MAX_VALUE, (layers + 1) * perLayer);
    }

    /** @return the machine's physical memory in bytes, or 0 if the JVM does not say */
    private static long physicalMemory() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean
                ? ((com.sun.management.OperatingSystemMXBean) os).getTotalMemorySize() : 0;
    }

    /**
     * In a child JVM: a daemon thread ends this process when its standard input reaches end of file. The
     * parent holds the other end of that pipe and never writes to it; the operating system closes it when
     * the parent ends in any way (SIGKILL included, and before the parent is reaped), so no measuring child
     * outlives the command, and a recycled process id cannot keep one alive.
     */
    private static void exitWhenStdinCloses() {
        Thread watch = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // the parent writes nothing; ignore anything that arrives
                }
            } catch (java.io.IOException e) {
                // a broken pipe also means the parent is gone
            }
            Runtime.getRuntime().halt(3);
        }, "lokr-parent-watch");
        watch.setDaemon(true);
        watch.start();
    }

    private static String text(Map<String, Object> r) {
        return String.format(
                Locale.ROOT,
                "gradientCheckpointing=%s peak=%.1f MiB activations=%.1f MiB step=%.1f ms",
                r.get("gradientCheckpointing"),
                ((Number) r.get("peakBytes")).doubleValue() / (1 << 20),
                ((Number) r.get("activationPeakBytes")).doubleValue() / (1 << 20),
                ((Number) r.get("stepMs")).doubleValue());
    }

    /**
     * Runs one setting in a child JVM and parses its JSON line.
     *
     * @param s the internal setting: off, on (memory) or time
     * @param returnFreedPages whether glibc should return freed buffers to the OS at once (for the
     *     memory samples; it makes every large allocation an mmap, so timing runs without it)
     */
    private Map<String, Object> runChild(String s, boolean returnFreedPages) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                java,
                                "-cp",
                                System.getProperty("java.class.path"),
                                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                                LokrCli.class.getName(),
                                "memory-report",
                                "--setting",
                                s,
                                "--layers",
                                "" + layers,
                                "--width",
                                "" + width,
                                "--batch",
                                "" + batch,
                                "--steps",
                                "" + steps,
                                "--segment-every",
                                "" + segmentEvery,
                                "--seed",
                                "" + seed,
                                "--watch-parent"));
        cmd.addAll(1, memoryOptions());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (returnFreedPages) {
            pb.environment().put("MALLOC_MMAP_THRESHOLD_", "65536");
        } else {
            pb.environment().remove("MALLOC_MMAP_THRESHOLD_");
        }
        Process p = pb.start();
        // a parent stopped by a signal or System.exit takes its child with it
        Thread reaper = new Thread(p::destroyForcibly, "lokr-child-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
        String last = null;
        StringBuilder all = new StringBuilder();
        int code;
        try {
            try (BufferedReader r =
                    new BufferedReader(
                            new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    all.append(line).append('\n');
                    if (line.startsWith("{")) {
                        last = line;
                    }
                }
            }
            code = p.waitFor();
        } finally {
            p.getOutputStream().close();   // the child's stdin, held open until now (see exitWhenStdinCloses)
            if (p.isAlive()) {
                p.destroyForcibly();
            }
            try {
                Runtime.getRuntime().removeShutdownHook(reaper);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
        if (code != 0 || last == null) {
            throw new IllegalStateException(
                    "measuring gradientCheckpointing="
                            + s
                            + " failed (exit "
                            + code
                            + "): "
                            + tail(all.toString(), 3));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) Json.parse(last);
        return m;
    }

    /**
     * This JVM's memory options, for the children: heap ({@code -Xmx}, {@code -Xms}), direct memory and
     * JavaCPP's off-heap limits ({@code -Dorg.bytedeco.javacpp.*}).
     */
    static List<String> memoryOptions() {
        List<String> kept = new ArrayList<>();
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-Xmx") || a.startsWith("-Xms") || a.startsWith("-XX:MaxDirectMemorySize=")
                    || a.startsWith("-Dorg.bytedeco.javacpp.")) {
                kept.add(a);
            }
        }
        return kept;
    }

    /** @return the last {@code n} non-blank lines of {@code text}, joined by {@code " | "} */
    static String tail(String text, int n) {
        List<String> lines = text.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    /** Measures one setting in this JVM. */
    Map<String, Object> measure(boolean checkpointing) throws InterruptedException {
        MultiLayerNetwork net = network();
        DataSet data = batchData();
        CheckpointedTrainer trainer = checkpointing ? CheckpointedTrainer.of(net, segmentation()) : null;
        Runnable step = step(net, trainer, data);
        // persistent training state (flattened gradient view, updater state) is not activation
        // memory: allocate
        // it before the baseline (both are otherwise created lazily by the first step)
        if (net.getFlattenedGradients() == null) {
            net.initGradientsView();
        }
        net.getUpdater();
        // sampled steps first, in a fresh process: pages freed by earlier steps and kept by the
        // allocator would
        // otherwise be reused without showing in the resident set
        settle();
        long before = Pointer.physicalBytes();
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicLong peak = new AtomicLong(before);
        AtomicLong samples = new AtomicLong();
        Thread sampler =
                new Thread(
                        () -> {
                            while (running.get()) {
                                collect();
                                long b = Pointer.physicalBytes();
                                peak.accumulateAndGet(b, Math::max);
                                samples.incrementAndGet();
                                try {
                                    Thread.sleep(1);
                                } catch (InterruptedException e) {
                                    return;
                                }
                            }
                        },
                        "memory-sampler");
        sampler.setDaemon(true);
        sampler.start();
        for (int i = 0; i < steps; i++) {
            step.run();
        }
        running.set(false);
        sampler.join();

        Map<String, Object> m = new LinkedHashMap<>();
        m.put("gradientCheckpointing", checkpointing);
        m.put("peakBytes", peak.get());
        m.put("activationPeakBytes", Math.max(0, peak.get() - before));
        m.put("baselineBytes", before);
        m.put("segments", trainer == null ? 1 : trainer.segmentStarts(data).length);
        m.put("samples", samples.get());
        m.put("layers", layers);
        m.put("width", width);
        m.put("batch", batch);
        m.put("steps", steps);
        return m;
    }

    /**
     * Times both settings in this JVM on two identical networks: one warm-up step each, then
     * {@code max(steps, 5)} rounds of one step without and one step with checkpointing, back to back, so
     * that drifting machine load hits both alike; each timed step starts after a collection.
     *
     * @return {@code offStepMs} and {@code onStepMs}, the median wall time of a step
     */
    Map<String, Object> time() {
        DataSet data = batchData();
        MultiLayerNetwork plain = network();
        MultiLayerNetwork checkpointed = network();
        Runnable off = step(plain, null, data);
        Runnable on = step(checkpointed, CheckpointedTrainer.of(checkpointed, segmentation()), data);
        off.run();
        on.run();
        int rounds = Math.max(steps, 5);
        double[] offMs = new double[rounds];
        double[] onMs = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            offMs[i] = millis(off);
            onMs[i] = millis(on);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("offStepMs", median(offMs));
        m.put("onStepMs", median(onMs));
        return m;
    }

    private static double millis(Runnable step) {
        // networks use no workspaces: collect the last step's buffers outside the timed region, so that
        // neither setting pays for the other's garbage (or for JavaCPP's wait-and-collect at its limit)
        collect();
        long t0 = System.nanoTime();
        step.run();
        return (System.nanoTime() - t0) / 1e6;
    }

    private static double median(double[] v) {
        double[] sorted = v.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        double m = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return Math.round(m * 10) / 10.0;
    }

    /** One batch of {@code --batch} random features and one-hot labels from {@code --seed}. */
    private DataSet batchData() {
        Nd4j.getRandom().setSeed(seed);
        INDArray features = Nd4j.rand(DataType.FLOAT, batch, width).subi(0.5);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, batch, CLASSES);
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < batch; i++) {
            labels.putScalar(i, r.nextInt(CLASSES), 1f);
        }
        return new DataSet(features, labels);
    }

    private Segmentation segmentation() {
        return segmentEvery > 0 ? Segmentation.everyK(segmentEvery) : Segmentation.automatic();
    }

    /** A training step: {@code trainer.fit} when there is a trainer, else DL4J's {@code net.fit}. */
    private static Runnable step(MultiLayerNetwork net, CheckpointedTrainer trainer, DataSet data) {
        return () -> {
            if (trainer != null) {
                trainer.fit(data);
            } else {
                net.fit(data);
            }
        };
    }

    private static void settle() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(20); // let the collector enqueue the references before JavaCPP drains them
            Pointer.deallocateReferences();
        }
    }

    /** A collection, then JavaCPP frees the native buffers of the arrays it found unreachable. */
    private static void collect() {
        System.gc();
        Pointer.deallocateReferences();
    }

    /**
     * The deep stack: {@code layers} dense layers of {@code width}, all LoKR-adapted, others
     * frozen.
     */
    private MultiLayerNetwork network() {
        NeuralNetConfiguration.ListBuilder b =
                new NeuralNetConfiguration.Builder()
                        .seed(seed)
                        .dataType(DataType.FLOAT)
                        .updater(new Adam(1e-3))
                        .weightInit(WeightInit.XAVIER)
                        .activation(Activation.RELU)
                        .trainingWorkspaceMode(WorkspaceMode.NONE)
                        .inferenceWorkspaceMode(WorkspaceMode.NONE)
                        .list();
        for (int i = 0; i < layers; i++) {
            b.layer(new DenseLayer.Builder().name("dense_" + i).nIn(width).nOut(width).build());
        }
        b.layer(
                new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .name("out")
                        .activation(Activation.SOFTMAX)
                        .nIn(width)
                        .nOut(CLASSES)
                        .build());
        MultiLayerNetwork base = new MultiLayerNetwork(b.build());
        base.init();
        MultiLayerNetwork net =
                LokrNetworks.apply(
                                LokrAdapter.builder().rank(4).alpha(4).build(),
                                base,
                                Targets.types(DenseLayer.class),
                                true)
                        .network();
        net.getLayerWiseConfigurations().setTrainingWorkspaceMode(WorkspaceMode.NONE);
        net.getLayerWiseConfigurations().setInferenceWorkspaceMode(WorkspaceMode.NONE);
        return net;
    }
}
