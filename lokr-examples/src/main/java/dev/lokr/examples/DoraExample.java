package dev.lokr.examples;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.Targets;

import org.nd4j.linalg.dataset.DataSet;

/**
 * LoKR with {@code dora} (weight-decomposed): {@code W' = (W + dW) * magnitude / ||W + dW||} per output unit, with a trainable {@code magnitude [out]} that starts at the norms of {@code W}, on the two hidden dense layers of a small classifier.
 *
 * <p>Run: {@code java -cp lokr-examples/target/lokr-cli.jar dev.lokr.examples.DoraExample [seed]}.
 */
public final class DoraExample {

    /** Training steps (full batch). */
    static final int STEPS = 40;
    /** Training samples. */
    static final int SAMPLES = 128;

    private DoraExample() {
    }

    /**
     * @return the adapter options this example shows
     */
    public static LokrAdapter adapter() {
        return LokrAdapter.builder().rank(2).alpha(2).dora(true).seed(14).build();
    }

    /**
     * Builds the network, adapts it, trains the adapter on a synthetic task, and merges it.
     *
     * @param seed seed of the network, the data and the task
     * @return what happened (prints nothing)
     */
    public static AdapterRun run(long seed) {
        DataSet data = ExampleSupport.teacherTask(new long[] {SAMPLES, ExampleSupport.WIDTH}, seed + 1, seed + 2);
        return ExampleSupport.adaptTrainMerge("DoraExample", adapter(), ExampleSupport.denseNetwork(seed), Targets.names("dense_.*"), data, STEPS);
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
