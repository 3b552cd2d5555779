package dev.lokr.dl4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.dl4j.train.LokrTraining;
import dev.lokr.dl4j.train.TrainingOptions;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.api.OptimizationAlgorithm;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Checkpointing implements DL4J's stochastic gradient descent step only. A network configured with another
 * optimization algorithm (line search, conjugate gradient, LBFGS) trains differently under DL4J's own
 * {@code fit}, so it is refused by name rather than silently trained with plain SGD.
 */
class OptimizationAlgorithmTest {

    private static NeuralNetConfiguration.Builder base(OptimizationAlgorithm algo) {
        return new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE).optimizationAlgo(algo)
                .updater(new Sgd(0.1)).activation(Activation.TANH);
    }

    private static MultiLayerNetwork mln(OptimizationAlgorithm algo) {
        MultiLayerNetwork n = new MultiLayerNetwork(base(algo).list()
                .layer(new DenseLayer.Builder().nIn(6).nOut(5).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(3).build())
                .setInputType(InputType.feedForward(6)).build());
        n.init();
        return n;
    }

    private static ComputationGraph graph(OptimizationAlgorithm algo) {
        ComputationGraph g = new ComputationGraph(base(algo).graphBuilder().addInputs("in")
                .addLayer("d", new DenseLayer.Builder().nIn(6).nOut(5).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .activation(Activation.SOFTMAX).nIn(5).nOut(3).build(), "d")
                .setOutputs("out").build());
        g.init();
        return g;
    }

    private static List<DataSet> batches() {
        Nd4j.getRandom().setSeed(11);
        List<DataSet> l = new ArrayList<>();
        for (int b = 0; b < 3; b++) {
            INDArray labels = Nd4j.zeros(DataType.DOUBLE, 4, 3);
            for (int i = 0; i < 4; i++) {
                labels.putScalar(i, (i + b) % 3, 1.0);
            }
            l.add(new DataSet(Nd4j.rand(DataType.DOUBLE, 4, 6), labels));
        }
        return l;
    }

    @ParameterizedTest
    @EnumSource(value = OptimizationAlgorithm.class, names = "STOCHASTIC_GRADIENT_DESCENT",
            mode = EnumSource.Mode.EXCLUDE)
    void anotherAlgorithmIsRefusedByName(OptimizationAlgorithm algo) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointedTrainer.of(mln(algo), Segmentation.automatic()));
        assertTrue(e.getMessage().contains(algo.name()) && e.getMessage().contains("STOCHASTIC_GRADIENT_DESCENT"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointedTrainer.of(graph(algo), Segmentation.automatic()));
        assertTrue(e.getMessage().contains(algo.name()), e.getMessage());

        // LokrTraining (checkpointing on by default) refuses before any step; with it off it is DL4J's fit
        MultiLayerNetwork net = mln(algo);
        INDArray before = net.params().dup();
        List<DataSet> data = batches();
        e = assertThrows(IllegalArgumentException.class, () -> LokrTraining.fit(net,
                new ListDataSetIterator<>(data, 1), 1, TrainingOptions.builder().numWorkers(0).build()));
        assertTrue(e.getMessage().contains(algo.name()) && e.getMessage().contains("gradientCheckpointing"),
                e.getMessage());
        assertEquals(before, net.params(), "a refused network must not have been trained");
        assertEquals(0, net.getIterationCount());

        MultiLayerNetwork ref = mln(algo);
        ref.fit(new ListDataSetIterator<>(data, 1), 1);
        LokrTraining.fit(net, new ListDataSetIterator<>(data, 1), 1,
                TrainingOptions.builder().numWorkers(0).gradientCheckpointing(false).build());
        assertEquals(0.0, ref.params().sub(net.params()).amaxNumber().doubleValue(), 1e-12);
    }

    @Test
    void stochasticGradientDescentIsAccepted() {
        MultiLayerNetwork ref = mln(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT);
        MultiLayerNetwork net = mln(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT);
        List<DataSet> data = batches();
        ref.fit(new ListDataSetIterator<>(data, 1), 1);
        CheckpointedTrainer.of(net, Segmentation.everyK(1)).fit(new ListDataSetIterator<>(data, 1));
        assertEquals(0.0, ref.params().sub(net.params()).amaxNumber().doubleValue(), 1e-12);
    }
}
