package dev.lokr.examples;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import dev.lokr.math.LokrParams;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Two adapters on one frozen network: an adapter is trained for task A and one for task B (two synthetic
 * teachers), each kept as an {@link LokrNetwork#adapterParams()} snapshot; at inference they are
 * switched with {@link LokrNetwork#loadAdapterParams} and their strength changed with
 * {@link LokrNetwork#setMultiplier}.
 *
 * <p>Run: {@code java -cp lokr-examples/target/lokr-cli.jar dev.lokr.examples.SwitchAdaptersExample [seed]}.
 */
public final class SwitchAdaptersExample {

    /** Training steps per task (full batch). */
    static final int STEPS = 40;
    /** Samples per task. */
    static final int SAMPLES = 128;

    /**
     * What the example found. Accuracies are on the training batches.
     *
     * @param accuracyBaseOnA      frozen network (adapters off) on task A
     * @param accuracyAOnA         adapter A on task A
     * @param accuracyBOnA         adapter B on task A
     * @param accuracyBOnB         adapter B on task B
     * @param accuracyAOnB         adapter A on task B
     * @param switchDiff           max |output with A - output with B| on task A's inputs
     * @param restoreDiff          max |output with A - output with A after switching to B and back| (exactly 0)
     * @param halfDiff             max |output with A at multiplier 0.5 - at multiplier 1|
     * @param zeroMultiplierVsBase max |output with A at multiplier 0 - output with the adapters disabled|
     */
    public record Result(double accuracyBaseOnA, double accuracyAOnA, double accuracyBOnA, double accuracyBOnB,
                         double accuracyAOnB, double switchDiff, double restoreDiff, double halfDiff,
                         double zeroMultiplierVsBase) {

        /** @return a few readable lines */
        public List<String> lines() {
            return List.of(
                    String.format(Locale.ROOT, "task A accuracy: base %.2f, adapter A %.2f, adapter B %.2f",
                            accuracyBaseOnA, accuracyAOnA, accuracyBOnA),
                    String.format(Locale.ROOT, "task B accuracy: adapter B %.2f, adapter A %.2f",
                            accuracyBOnB, accuracyAOnB),
                    String.format(Locale.ROOT, "switching A -> B changes outputs by up to %.4g; back to A: %.3g",
                            switchDiff, restoreDiff),
                    String.format(Locale.ROOT, "multiplier 0.5 changes outputs by up to %.4g; multiplier 0 vs "
                            + "disabled: %.3g", halfDiff, zeroMultiplierVsBase));
        }
    }

    private SwitchAdaptersExample() {
    }

    /**
     * @param seed seed of the network, the data and the tasks
     * @return what happened (prints nothing)
     */
    public static Result run(long seed) {
        long[] shape = {SAMPLES, ExampleSupport.WIDTH};
        DataSet taskA = ExampleSupport.teacherTask(shape, seed + 1, seed + 2);
        DataSet taskB = ExampleSupport.teacherTask(shape, seed + 3, seed + 4);
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(
                LokrAdapter.builder().rank(4).alpha(4).seed(seed).build(),
                ExampleSupport.denseNetwork(seed), Targets.names("dense_.*"));
        MultiLayerNetwork net = adapted.network();
        Map<String, LokrParams> initial = adapted.adapterParams();

        ExampleSupport.train(net, taskA, STEPS);
        Map<String, LokrParams> adapterA = adapted.adapterParams();
        adapted.loadAdapterParams(initial);
        ExampleSupport.train(net, taskB, STEPS);
        Map<String, LokrParams> adapterB = adapted.adapterParams();

        INDArray xA = taskA.getFeatures();
        INDArray xB = taskB.getFeatures();
        adapted.setEnabled(false);
        INDArray baseOnA = net.output(xA);
        adapted.setEnabled(true);

        adapted.loadAdapterParams(adapterA);
        INDArray aOnA = net.output(xA);
        INDArray aOnB = net.output(xB);
        adapted.loadAdapterParams(adapterB);
        INDArray bOnA = net.output(xA);
        INDArray bOnB = net.output(xB);
        adapted.loadAdapterParams(adapterA);
        INDArray aOnAAgain = net.output(xA);

        adapted.setMultiplier(0.5);
        INDArray half = net.output(xA);
        adapted.setMultiplier(0.0);
        INDArray zero = net.output(xA);
        adapted.setMultiplier(1.0);

        return new Result(ExampleSupport.accuracy(baseOnA, taskA.getLabels()),
                ExampleSupport.accuracy(aOnA, taskA.getLabels()), ExampleSupport.accuracy(bOnA, taskA.getLabels()),
                ExampleSupport.accuracy(bOnB, taskB.getLabels()), ExampleSupport.accuracy(aOnB, taskB.getLabels()),
                ExampleSupport.maxAbsDiff(aOnA, bOnA), ExampleSupport.maxAbsDiff(aOnA, aOnAAgain),
                ExampleSupport.maxAbsDiff(half, aOnA), ExampleSupport.maxAbsDiff(zero, baseOnA));
    }

    /**
     * @param args optional seed (default 7)
     */
    public static void main(String[] args) {
        ExampleSupport.tinyNetworkThreads();
        long seed = args.length > 0 ? Long.parseLong(args[0]) : 7;
        run(seed).lines().forEach(System.out::println);
    }
}
