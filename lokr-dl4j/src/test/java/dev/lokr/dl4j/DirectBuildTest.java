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
