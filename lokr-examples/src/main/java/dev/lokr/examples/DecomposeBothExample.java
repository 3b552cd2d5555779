package dev.lokr.examples;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.Targets;

import org.nd4j.linalg.dataset.DataSet;

/**
 * LoKR with {@code decomposeBoth}: both Kronecker factors low-rank ({@code w1 = w1a w1b}, {@code w2 = w2a w2b}), on the two hidden dense layers of a small classifier (weights {@code [64, 64]}, factored 8 x 8 by 8 x 8, rank 2).
 *
 * <p>Run: {@code java -cp lokr-examples/target/lokr-cli.jar dev.lokr.examples.DecomposeBothExample [seed]}.
 */
public final class DecomposeBothExample {

    /** Training steps (full batch). */
    static final int STEPS = 40;
    /** Training samples. */
    static final int SAMPLES = 128;

    private DecomposeBothExample() {
    }

    /**
     * @return the adapter options this example shows
     */
    public static LokrAdapter adapter() {
        return LokrAdapter.builder().rank(2).alpha(2).decomposeBoth(true).seed(11).build();
    }

    /**
     * Builds the network, adapts it, trains the adapter on a synthetic task, and merges it.
     *
     * @param seed seed of the network, the data and the task
     * @return what happened (prints nothing)
     */
    public static AdapterRun run(long seed) {
        DataSet data = ExampleSupport.teacherTask(new long[] {SAMPLES, ExampleSupport.WIDTH}, seed + 1, seed + 2);
        return ExampleSupport.adaptTrainMerge("DecomposeBothExample", adapter(), ExampleSupport.denseNetwork(seed), Targets.names("dense_.*"), data, STEPS);
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
