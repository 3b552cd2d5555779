package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A setting of the base convolution changed after the first pass (input dropout, activation) applies to an
 * adapted Conv1D as it does to DL4J's own layer, in either data format: an NWC layer runs an NCW copy of its
 * base, which must follow the live base.
 */
class Conv1dLiveSettingsTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    static MultiLayerNetwork net(RNNFormat format, boolean dropout) {
        Convolution1DLayer.Builder conv = new Convolution1DLayer.Builder(3).name("conv").nOut(6).rnnDataFormat(format)
                .activation(Activation.TANH);
        if (dropout) {
            conv.dropOut(0.5);
        }
        MultiLayerNetwork n = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3)
                .dataType(DataType.DOUBLE).updater(new Sgd(0.1)).list()
                .layer(conv.build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).name("out").nOut(3)
                        .activation(Activation.IDENTITY).dataFormat(format).build())
                .setInputType(InputType.recurrent(4, 8, format)).build());
        n.init();
        return n;
    }

    /** Whether two training-mode passes with different random seeds give different conv activations. */
    static boolean dropoutActs(MultiLayerNetwork n, INDArray x) {
        Nd4j.getRandom().setSeed(1);
        INDArray a = n.feedForward(x, true).get(1).dup();
        Nd4j.getRandom().setSeed(2);
        INDArray b = n.feedForward(x, true).get(1).dup();
        return a.sub(b).amaxNumber().doubleValue() > 1e-12;
    }

    @ParameterizedTest(name = "{0}, dropout at build {1}")
    @CsvSource({"NCW,false", "NWC,false", "NCW,true", "NWC,true"})
    void inputDropoutAndActivationChangedAfterTheFirstPassApply(RNNFormat format, boolean dropoutAtBuild) {
        String ctx = format + ", dropout at build " + dropoutAtBuild;
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(LokrAdapter.builder().rank(1).build(),
                net(format, dropoutAtBuild), Targets.names("conv"));
        Fixtures.randomizeAdapters(adapted, 5);
        INDArray x = Fixtures.uniform(format == RNNFormat.NCW ? new long[] {2, 4, 8} : new long[] {2, 8, 4}, -1, 1,
                DataType.DOUBLE, 7);
        assertEquals(dropoutAtBuild, dropoutActs(adapted.network(), x), ctx + ": before the change");

        adapted.layerConf("conv").setIDropout(dropoutAtBuild ? null : new Dropout(0.5));
        assertEquals(!dropoutAtBuild, dropoutActs(adapted.network(), x), ctx + ": after the change");

        ((BaseLayer) adapted.layerConf("conv").getBase()).setActivationFn(Activation.SIGMOID.getActivationFunction());
        adapted.layerConf("conv").setIDropout(null);
        INDArray out = adapted.network().output(x);
        INDArray merged = adapted.merge().output(x);
        assertTrue(out.equalsWithEps(merged, 1e-12), ctx + ": the adapted layer uses the new activation, as merge()"
                + " does: " + out + " vs " + merged);
    }
}
