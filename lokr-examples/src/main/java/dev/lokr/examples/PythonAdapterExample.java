package dev.lokr.examples;

import dev.lokr.cli.LokrCli;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.SafetensorsReader;
import dev.lokr.io.TensorInfo;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Merges an adapter trained in Python (LyCORIS or PEFT {@code .safetensors}) into a DL4J network.
 *
 * <p>The input is a directory holding {@code base.safetensors} (the PyTorch weights), {@code adapter.safetensors}
 * (the LoKR adapter; or PEFT's {@code adapter_model.safetensors} beside its {@code adapter_config.json}) and {@code expected.safetensors} (the weights PyTorch computed after merging), as
 * lokr-core's parity cases. The example finds the first dense weight {@code <path>.weight} ({@code [out, in]})
 * of the base that the adapter has a module for, builds a {@code DenseLayer} with {@code nIn = in,
 * nOut = out}, loads the base weight (PyTorch {@code [out, in]} is DL4J's {@code W [nIn, nOut]} transposed)
 * and bias, resolves the adapter module, merges it with {@link LokrWeights#merge} and puts the merged weight
 * in the network. Convolution weights are for {@code lokr merge}, which handles every layer kind.
 *
 * <p>Run: {@code java -cp lokr-examples/target/lokr-cli.jar dev.lokr.examples.PythonAdapterExample
 * lokr-core/src/test/resources/parity-cases/linear_dora} (any of the {@code linear_*} or {@code peft_*} cases).
 */
public final class PythonAdapterExample {

    /**
     * What the example found.
     *
     * @param modulePath    the PyTorch module path of the adapted layer ({@code blocks.0.attn.q})
     * @param module        the adapter's module name for it
     * @param layout        the resolved adapter layout, in words
     * @param weightMaxDiff max |merged DL4J weight - expected PyTorch weight| (compared in PyTorch layout)
     * @param outputMaxDiff max |network output - (x expected^T + bias)| on random inputs
     * @param deltaMaxAbs   max |merged - base| weight: how much the adapter changed the layer
     */
    public record Result(String modulePath, String module, String layout, double weightMaxDiff,
                         double outputMaxDiff, double deltaMaxAbs) {

        /** @return a few readable lines */
        public List<String> lines() {
            return List.of(
                    "adapter module " + module + " for " + modulePath + ": " + layout,
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
     * @param multiplier the adapter strength (the parity cases used 1)
     * @return what happened (prints nothing)
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if no base weight has a module in the adapter, or the first that has one
     *                                  is not a dense {@code [out, in]} weight
     */
    public static Result run(Path dir, double multiplier) throws IOException {
        try (SafetensorsReader base = SafetensorsReader.open(dir.resolve("base.safetensors"));
             SafetensorsReader exp = SafetensorsReader.open(dir.resolve("expected.safetensors"));
             AdapterFile adapter = AdapterFile.read(adapterFile(dir))) {
            String path = null;
            String module = null;
            for (TensorInfo t : base.tensors()) {
                if (t.name().endsWith(".weight") && path == null) {
                    String p = t.name().substring(0, t.name().length() - ".weight".length());
                    module = adapter.candidateNames(p).stream().filter(adapter.modules()::contains).findFirst()
                            .orElse(null);
                    path = module == null ? null : p;
                }
            }
            if (path == null) {
                throw new IllegalArgumentException("no weight of " + dir.resolve("base.safetensors")
                        + " has a module in the adapter; its modules are " + adapter.modules());
            }
            long[] shape = base.info(path + ".weight").shape();
            if (shape.length != 2) {
                throw new IllegalArgumentException("this example merges dense layers, but " + path + ".weight is "
                        + Arrays.toString(shape) + " (a convolution); merge it with `lokr merge`");
            }
            int out = Math.toIntExact(shape[0]);
            int in = Math.toIntExact(shape[1]);
            INDArray weight = base.read(path + ".weight", DataType.FLOAT);                 // [out, in]
            INDArray bias = base.contains(path + ".bias") ? base.read(path + ".bias", DataType.FLOAT)
                    : Nd4j.zeros(DataType.FLOAT, out);                                     // [out]
            INDArray expected = exp.read(path + ".weight", DataType.FLOAT);               // [out, in]

            MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                    .dataType(DataType.FLOAT).list()
                    .layer(new DenseLayer.Builder().name("q").nIn(in).nOut(out).activation(Activation.IDENTITY)
                            .build())
                    .build());
            net.init();

            INDArray merged = weight.dup();
            LokrParams params = adapter.resolve(module, shape, DataType.FLOAT);
            LokrWeights.merge(params, merged, multiplier);                                // merged <- W'
            net.getLayer("q").getParam("W").assign(merged.transpose());                   // DL4J W is [nIn, nOut]
            net.getLayer("q").getParam("b").assign(bias.reshape(1, out));

            INDArray x = ExampleSupport.uniform(new long[] {8, in}, 3);
            INDArray want = x.mmul(expected.transpose()).addRowVector(bias);
            INDArray got = net.output(x);
            INDArray inNetwork = net.getLayer("q").getParam("W").transpose();
            return new Result(path, module, params.layout().toString(), ExampleSupport.maxAbsDiff(inNetwork, expected),
                    ExampleSupport.maxAbsDiff(got, want), ExampleSupport.maxAbsDiff(merged, weight));
        }
    }

    /** @return {@code adapter.safetensors} (LyCORIS), else {@code adapter_model.safetensors} (PEFT) if present */
    private static Path adapterFile(Path dir) {
        Path lycoris = dir.resolve("adapter.safetensors");
        Path peft = dir.resolve("adapter_model.safetensors");
        return !Files.exists(lycoris) && Files.exists(peft) ? peft : lycoris;
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
        Path dir = Path.of(args[0]);
        if (!Files.isDirectory(dir)) {
            System.err.println("PythonAdapterExample: " + dir + " is not a folder; give a parity-case folder holding "
                    + "base.safetensors, the adapter and expected.safetensors");
            System.exit(1);
        }
        try {
            run(dir, 1.0).lines().forEach(System.out::println);
        } catch (IOException | RuntimeException e) {
            System.err.println("PythonAdapterExample: " + LokrCli.describe(e));
            System.exit(1);
        }
    }
}
