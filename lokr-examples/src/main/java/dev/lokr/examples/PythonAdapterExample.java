package dev.lokr.examples;

import dev.lokr.io.AdapterFile;
import dev.lokr.io.SafetensorsReader;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Merges an adapter trained in Python (LyCORIS {@code .safetensors}) into a DL4J network.
 *
 * <p>The input is a directory holding {@code base.safetensors} (the PyTorch layer {@code blocks.0.attn.q}:
 * {@code weight [96, 64]}, {@code bias [96]}), {@code adapter.safetensors} (its LoKR module) and
 * {@code expected.safetensors} (the weight PyTorch computed after merging), as lokr-core's parity case
 * {@code linear_plain}. The example builds a {@code DenseLayer} with {@code nIn = 64, nOut = 96}, loads the
 * base weight (PyTorch {@code [out, in]} is DL4J's {@code W [nIn, nOut]} transposed), resolves the
 * adapter module, merges it with {@link LokrWeights#merge} and puts the merged weight in the network.
 *
 * <p>Run: {@code java -cp lokr-examples/target/lokr-cli.jar dev.lokr.examples.PythonAdapterExample
 * lokr-core/src/test/resources/parity-cases/linear_plain}.
 */
public final class PythonAdapterExample {

    /** The PyTorch module path of the adapted layer. */
    public static final String MODULE_PATH = "blocks.0.attn.q";
    /** Layer input width. */
    static final int IN = 64;
    /** Layer output width. */
    static final int OUT = 96;

    /**
     * What the example found.
     *
     * @param module        the adapter's module name for {@link #MODULE_PATH}
     * @param layout        the resolved adapter layout, in words
     * @param weightMaxDiff max |merged DL4J weight - expected PyTorch weight| (compared in PyTorch layout)
     * @param outputMaxDiff max |network output - (x expected^T + bias)| on random inputs
     * @param deltaMaxAbs   max |merged - base| weight: how much the adapter changed the layer
     */
    public record Result(String module, String layout, double weightMaxDiff, double outputMaxDiff,
                         double deltaMaxAbs) {

        /** @return a few readable lines */
        public List<String> lines() {
            return List.of(
                    "adapter module " + module + ": " + layout,
                    String.format(Locale.ROOT, "the adapter changes the weight by up to %.4g", deltaMaxAbs),
                    String.format(Locale.ROOT, "merged DL4J weight vs PyTorch expected: max |diff| %.3g", weightMaxDiff),
                    String.format(Locale.ROOT, "DL4J output vs x expected^T + b: max |diff| %.3g", outputMaxDiff));
        }
    }

    private PythonAdapterExample() {
    }

    /**
     * @param dir the directory with {@code base.safetensors}, {@code adapter.safetensors} and
     *            {@code expected.safetensors}
     * @param multiplier the adapter strength (the parity case used 1)
     * @return what happened (prints nothing)
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if the adapter has no module for {@link #MODULE_PATH}
     */
    public static Result run(Path dir, double multiplier) throws IOException {
        INDArray weight;
        INDArray bias;
        INDArray expected;
        try (SafetensorsReader base = SafetensorsReader.open(dir.resolve("base.safetensors"));
             SafetensorsReader exp = SafetensorsReader.open(dir.resolve("expected.safetensors"))) {
            weight = base.read(MODULE_PATH + ".weight", DataType.FLOAT);      // [out, in] = [96, 64]
            bias = base.read(MODULE_PATH + ".bias", DataType.FLOAT);          // [96]
            expected = exp.read(MODULE_PATH + ".weight", DataType.FLOAT);     // [96, 64]
        }

        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.FLOAT).list()
                .layer(new DenseLayer.Builder().name("q").nIn(IN).nOut(OUT).activation(Activation.IDENTITY).build())
                .build());
        net.init();

        INDArray merged = weight.dup();
        String module;
        String layout;
        try (AdapterFile adapter = AdapterFile.read(dir.resolve("adapter.safetensors"))) {
            module = adapter.candidateNames(MODULE_PATH).stream().filter(adapter.modules()::contains).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("adapter has no module for " + MODULE_PATH
                            + "; its modules are " + adapter.modules()));
            LokrParams params = adapter.resolve(module, weight.shape(), DataType.FLOAT);
            layout = params.layout().toString();
            LokrWeights.merge(params, merged, multiplier);                   // merged <- W'
        }
        net.getLayer("q").getParam("W").assign(merged.transpose());         // DL4J W is [nIn, nOut]
        net.getLayer("q").getParam("b").assign(bias.reshape(1, OUT));

        INDArray x = ExampleSupport.uniform(new long[] {8, IN}, 3);
        INDArray want = x.mmul(expected.transpose()).addRowVector(bias);
        INDArray got = net.output(x);
        INDArray inNetwork = net.getLayer("q").getParam("W").transpose();
        return new Result(module, layout, ExampleSupport.maxAbsDiff(inNetwork, expected),
                ExampleSupport.maxAbsDiff(got, want), ExampleSupport.maxAbsDiff(merged, weight));
    }

    /**
     * @param args the parity-case directory
     * @throws IOException if a file cannot be read
     */
    public static void main(String[] args) throws IOException {
        ExampleSupport.tinyNetworkThreads();
        if (args.length != 1) {
            System.err.println("usage: PythonAdapterExample <dir with base, adapter and expected .safetensors>");
            System.exit(2);
        }
        run(Path.of(args[0]), 1.0).lines().forEach(System.out::println);
    }
}
