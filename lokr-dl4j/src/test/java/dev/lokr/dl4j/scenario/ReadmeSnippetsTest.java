package dev.lokr.dl4j.scenario;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.LycorisWriter;
import dev.lokr.math.LokrDense;
import dev.lokr.math.LokrInit;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's core and file snippets, as written, checked against plain matrix arithmetic. */
class ReadmeSnippetsTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        Nd4j.getEnvironment().setMaxThreads(1);
        Nd4j.getEnvironment().setMaxMasterThreads(1);
    }

    private static double maxAbs(INDArray a) {
        return a.amaxNumber().doubleValue();
    }

    /** The quick start: forward and input gradient equal those of the merged weight W'. */
    @Test
    void coreQuickStart() {
        Nd4j.getRandom().setSeed(1);
        INDArray baseWeight = Nd4j.randn(DataType.FLOAT, 768, 3072).muli(0.02);
        INDArray bias = Nd4j.randn(DataType.FLOAT, 768).muli(0.1);
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 3072);
        INDArray dy = Nd4j.randn(DataType.FLOAT, 3, 768);

        LokrAdapter adapter = LokrAdapter.builder()
                .rank(8).alpha(8)
                .decomposeBoth(true)
                .build();
        LokrLayout layout = adapter.layoutFor(768, 3072);
        LokrParams params = LokrParams.zeros(layout, DataType.FLOAT);
        LokrInit.initialize(params, baseWeight, adapter.seed());

        LokrDense.Cache cache = new LokrDense.Cache();
        INDArray y = LokrDense.forward(params, baseWeight, bias, x, 1.0, null, cache);
        INDArray plain = x.mmul(baseWeight.transpose()).addiRowVector(bias);
        assertEquals(0.0, maxAbs(y.sub(plain)), 1e-5, "dW = 0 at step 0");

        // a trained adapter: every factor non-zero
        for (LokrParam p : layout.params()) {
            params.get(p).assign(Nd4j.randn(DataType.FLOAT, params.get(p).shape()).muli(0.1));
        }
        y = LokrDense.forward(params, baseWeight, bias, x, 1.0, null, cache);
        LokrParams grads = LokrParams.zeros(layout, DataType.FLOAT);
        INDArray dx = LokrDense.backward(baseWeight, dy, cache, grads, true);

        INDArray merged = baseWeight.dup();
        LokrWeights.merge(params, merged, 1.0);
        assertTrue(maxAbs(merged.sub(baseWeight)) > 1e-3);
        INDArray expectedY = x.mmul(merged.transpose()).addiRowVector(bias);
        assertEquals(0.0, maxAbs(y.sub(expectedY)), 1e-4 * (1 + maxAbs(expectedY)));
        INDArray expectedDx = dy.mmul(merged);
        assertEquals(0.0, maxAbs(dx.sub(expectedDx)), 1e-4 * (1 + maxAbs(expectedDx)));
        for (LokrParam p : layout.params()) {
            assertTrue(maxAbs(grads.get(p)) > 0, p.key());
        }
    }

    /**
     * The file snippets: {@code LycorisWriter.save}, {@code AdapterFile.resolve} + {@code LokrWeights.merge}, and
     * {@code apply(..., file, Map.of("dense1", module), false)} on a DL4J layer whose W is the PyTorch weight
     * transposed.
     */
    @Test
    void fileSnippetsAgreeWithTheMergedWeight() throws Exception {
        LokrAdapter adapter = LokrAdapter.builder().rank(4).alpha(2).dora(true).build();
        LokrLayout layout = adapter.layoutFor(96, 64);
        Nd4j.getRandom().setSeed(2);
        INDArray weight = Nd4j.randn(DataType.FLOAT, 96, 64).muli(0.1);   // PyTorch [out, in]
        LokrParams params = LokrParams.zeros(layout, DataType.FLOAT);
        LokrInit.initialize(params, weight, 5);
        for (LokrParam p : layout.params()) {
            if (p != LokrParam.MAGNITUDE) {
                params.get(p).assign(Nd4j.randn(DataType.FLOAT, params.get(p).shape()).muli(0.1));
            }
        }
        Path out = dir.resolve("out.safetensors");
        LycorisWriter.save(out, Map.of("blocks.0.attn.q", params), Map.of());

        INDArray expected = weight.dup();
        LokrWeights.merge(params, expected, 1.0);
        INDArray fromFile = weight.dup();
        try (AdapterFile file = AdapterFile.read(out)) {
            assertEquals(java.util.List.of("lycoris_blocks_0_attn_q"), file.modules());
            LokrParams p = file.resolve("lycoris_blocks_0_attn_q", new long[] {96, 64}, DataType.FLOAT);
            LokrWeights.merge(p, fromFile, 1.0);
        }
        assertEquals(expected, fromFile);

        // a DL4J network holding the same base: dense1 has W = weight^T [64, 96]
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1)
                .dataType(DataType.FLOAT).updater(new Adam(1e-3)).weightInit(WeightInit.XAVIER).list()
                .layer(new DenseLayer.Builder().name("dense1").nIn(64).nOut(96).activation(Activation.IDENTITY).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).name("head").nIn(96).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .build());
        net.init();
        net.getLayer("dense1").setParam("W", weight.transpose().dup('f'));
        INDArray x = Nd4j.randn(DataType.FLOAT, 5, 64);
        INDArray hidden;
        try (AdapterFile file = AdapterFile.read(out)) {
            LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(LokrAdapter.builder().build(), net, file,
                    Map.of("dense1", "lycoris_blocks_0_attn_q"), false);
            hidden = adapted.network().feedForwardToLayer(0, x, false).get(1);
        }
        INDArray b = net.getLayer("dense1").getParam("b");
        INDArray expectedHidden = x.mmul(expected.transpose()).addiRowVector(b);
        assertEquals(0.0, maxAbs(hidden.sub(expectedHidden)), 1e-5 * (1 + maxAbs(expectedHidden)));
    }
}
