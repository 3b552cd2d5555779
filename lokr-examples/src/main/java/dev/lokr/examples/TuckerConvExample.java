package dev.lokr.examples;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.Targets;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.nd4j.linalg.dataset.DataSet;

/**
 * LoKR with {@code tucker} on conv layers: {@code w2} of each 3x3 kernel is the Tucker product of a core {@code t2 [r, r, 3, 3]} with {@code w2a [r, b]} and {@code w2b [r, d]}, on both conv layers of a small image classifier.
 *
 * <p>Run: {@code java -cp lokr-examples/target/lokr-cli.jar dev.lokr.examples.TuckerConvExample [seed]}.
 */
public final class TuckerConvExample {

    /** Training steps (full batch). */
    static final int STEPS = 30;
    /** Training samples. */
    static final int SAMPLES = 64;

    private TuckerConvExample() {
    }

    /**
     * @return the adapter options this example shows
     */
    public static LokrAdapter adapter() {
        return LokrAdapter.builder().rank(2).alpha(2).tucker(true).seed(12).build();
    }

    /**
     * Builds the network, adapts it, trains the adapter on a synthetic task, and merges it.
     *
     * @param seed seed of the network, the data and the task
     * @return what happened (prints nothing)
     */
    public static AdapterRun run(long seed) {
        DataSet data = ExampleSupport.teacherTask(new long[] {SAMPLES, ExampleSupport.CONV_IN, ExampleSupport.IMAGE, ExampleSupport.IMAGE}, seed + 1, seed + 2);
        return ExampleSupport.adaptTrainMerge("TuckerConvExample", adapter(), ExampleSupport.convNetwork(seed), Targets.types(ConvolutionLayer.class), data, STEPS);
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
