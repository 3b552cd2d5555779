package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.math.LokrParam;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.constraint.MaxNormConstraint;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A {@link LokrLayer} put into a DL4J configuration by hand instead of by {@link LokrNetworks}. */
class DirectBuildTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static MultiLayerNetwork network(DenseLayer base, NeuralNetConfiguration.Builder builder) {
        MultiLayerConfiguration conf = builder.list()
                .layer(new LokrLayer(base, LokrAdapter.builder().rank(2).alpha(2).build()))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(Fixtures.DENSE_HIDDEN)
                        .nOut(Fixtures.CLASSES).activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER)
                        .build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @Test
    void settersRefuseValuesOutsideTheirRanges() {
        LokrLayer layer = new LokrLayer();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> layer.setRank(0));
        assertTrue(e.getMessage().contains("rank must be >= 1, got 0"), e.getMessage());
        for (double p : new double[] {-0.1, 1.0, Double.NaN}) {
            e = assertThrows(IllegalArgumentException.class, () -> layer.setRankDropout(p));
            assertTrue(e.getMessage().contains("rankDropout must be in [0, 1), got " + p), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> layer.setModuleDropout(p));
            assertTrue(e.getMessage().contains("moduleDropout must be in [0, 1), got " + p), e.getMessage());
        }
        layer.setRankDropout(0.5);
        layer.setModuleDropout(0.0);
        layer.setRank(3);
        assertEquals(3, layer.getRank());
    }

    @Test
    void constraintsNeverTouchTheFrozenWeightOrBias() {
        DenseLayer base = new DenseLayer.Builder().nIn(Fixtures.DENSE_IN).nOut(Fixtures.DENSE_HIDDEN)
                .activation(Activation.TANH).weightInit(WeightInit.XAVIER).biasInit(3.0).updater(new Adam(0.05)).build();
        MultiLayerNetwork net = network(base, new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE)
                .updater(new Adam(0.05)).constrainWeights(new MaxNormConstraint(0.1, 1))
                .constrainBias(new MaxNormConstraint(0.1, 0)));
        String w1Key = "0_" + LokrLayer.paramKey(LokrParam.W1);
        net.setParam(w1Key, Fixtures.uniform(net.getParam(w1Key).shape(), 0.5, 1.0, DataType.DOUBLE, 4));
        INDArray w = net.getParam("0_W").dup();
        INDArray b = net.getParam("0_b").dup();
        assertTrue(net.getParam(w1Key).norm2(1).minNumber().doubleValue() > 0.1,
                "the adapter tensor starts outside the constraint");
        net.fit(Fixtures.denseInput(8, DataType.DOUBLE, 5), Fixtures.labels(8, DataType.DOUBLE, 6));
        assertEquals(w, net.getParam("0_W"), "a weight constraint changed the frozen W");
        assertEquals(b, net.getParam("0_b"), "a bias constraint changed the frozen b");
        // the constraint still applies to the adapter tensors: each column norm of w1 is now at most 0.1
        INDArray norms = net.getParam(w1Key).norm2(1);
        assertTrue(norms.maxNumber().doubleValue() <= 0.1 + 1e-9, "w1 norms " + norms);
    }

    /**
     * A weight constraint from the builder reaches the Kronecker factors, not the DoRA magnitude or the scalar
     * gain (1-D gains: a column max-norm would not even fit them).
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "dora={0} scalar={1}")
    @org.junit.jupiter.params.provider.CsvSource({"true,false", "false,true"})
    void aWeightConstraintLeavesTheGainsAlone(boolean dora, boolean scalar) {
        DenseLayer base = new DenseLayer.Builder().nIn(Fixtures.DENSE_IN).nOut(Fixtures.DENSE_HIDDEN)
                .activation(Activation.TANH).weightInit(WeightInit.XAVIER).biasInit(0.0).updater(new Adam(0.05)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3)
                .dataType(DataType.DOUBLE).updater(new Adam(0.05)).constrainWeights(new MaxNormConstraint(0.1, 1)).list()
                .layer(new LokrLayer(base, LokrAdapter.builder().rank(2).dora(dora).scalar(scalar).build()))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(Fixtures.DENSE_HIDDEN)
                        .nOut(Fixtures.CLASSES).activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER).build())
                .build());
        net.init();
        String w1Key = "0_" + LokrLayer.paramKey(LokrParam.W1);
        String gainKey = "0_" + LokrLayer.paramKey(dora ? LokrParam.MAGNITUDE : LokrParam.SCALAR);
        net.setParam(w1Key, Fixtures.uniform(net.getParam(w1Key).shape(), 0.5, 1.0, DataType.DOUBLE, 4));
        net.setParam(gainKey, net.getParam(gainKey).add(1.0));
        net.fit(Fixtures.denseInput(8, DataType.DOUBLE, 5), Fixtures.labels(8, DataType.DOUBLE, 6));
        assertTrue(net.getParam(w1Key).norm2(1).maxNumber().doubleValue() <= 0.1 + 1e-9, "w1 is constrained");
        assertTrue(net.getParam(gainKey).maxNumber().doubleValue() > 0.5, "the gain is left alone: "
                + net.getParam(gainKey));
    }

    /** A constraint over dimensions a factor lacks (a conv kernel's [1, 2, 3] on a 2-D w1) is refused by name. */
    @Test
    void aConstraintThatDoesNotFitAFactorIsRefusedByName() {
        org.deeplearning4j.nn.conf.layers.ConvolutionLayer conv =
                new org.deeplearning4j.nn.conf.layers.ConvolutionLayer.Builder(3, 3).nIn(2).nOut(4)
                        .activation(Activation.TANH).weightInit(WeightInit.XAVIER).biasInit(0.0)
                        .convolutionMode(org.deeplearning4j.nn.conf.ConvolutionMode.Same).updater(new Adam(0.05))
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3)
                .dataType(DataType.DOUBLE).updater(new Adam(0.05)).constrainWeights(new MaxNormConstraint(0.1, 1, 2, 3))
                .list()
                .layer(new LokrLayer(conv, LokrAdapter.builder().rank(2).build()))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(Fixtures.CLASSES)
                        .activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER).build())
                .setInputType(org.deeplearning4j.nn.conf.inputs.InputType.convolutional(5, 5, 2)).build());
        net.init();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> net.fit(
                Fixtures.uniform(new long[] {3, 2, 5, 5}, -1, 1, DataType.DOUBLE, 5), Fixtures.labels(3, DataType.DOUBLE, 6)));
        assertTrue(e.getMessage().contains("reduces over dimensions [1, 2, 3]") && e.getMessage().contains("lokrW1"),
                e.getMessage());
    }

    @Test
    void aBaseWithoutTheBuilderDefaultsIsRefusedByName() {
        DenseLayer bare = new DenseLayer.Builder().name("hidden").nIn(Fixtures.DENSE_IN).nOut(Fixtures.DENSE_HIDDEN)
                .build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> network(bare,
                new NeuralNetConfiguration.Builder().seed(3).weightInit(WeightInit.XAVIER).activation(Activation.TANH)
                        .updater(new Adam(0.01))));
        String msg = e.getMessage();
        assertTrue(msg.contains("'hidden'") && msg.contains("weightInit") && msg.contains("activation")
                && msg.contains("updater") && msg.contains("biasInit") && msg.contains("LokrNetworks.apply"), msg);
        // a bias init alone missing left the bias at NaN
        DenseLayer noBiasInit = new DenseLayer.Builder().name("hidden").nIn(Fixtures.DENSE_IN)
                .nOut(Fixtures.DENSE_HIDDEN).weightInit(WeightInit.XAVIER).activation(Activation.TANH)
                .updater(new Adam(0.01)).build();
        e = assertThrows(IllegalArgumentException.class, () -> network(noBiasInit,
                new NeuralNetConfiguration.Builder().seed(3)));
        assertTrue(e.getMessage().contains("has no biasInit."), e.getMessage());
        DenseLayer noBias = new DenseLayer.Builder().name("hidden").nIn(Fixtures.DENSE_IN).hasBias(false)
                .nOut(Fixtures.DENSE_HIDDEN).weightInit(WeightInit.XAVIER).activation(Activation.TANH)
                .updater(new Adam(0.01)).build();
        network(noBias, new NeuralNetConfiguration.Builder().seed(3));   // no bias: no bias init needed
    }
}
