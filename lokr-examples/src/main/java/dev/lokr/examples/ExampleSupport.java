package dev.lokr.examples;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** The small networks, synthetic tasks and the adapt-train-merge loop that the examples share. */
final class ExampleSupport {

    /** Width of the dense networks' input and hidden layers: 64 = 8 x 8, so both factors can be low-rank. */
    static final int WIDTH = 64;
    /** Classes of the synthetic tasks. */
    static final int CLASSES = 4;
    /** Conv network: input channels, image side, hidden channels. */
    static final int CONV_IN = 3;
    static final int IMAGE = 8;
    static final int CONV_CHANNELS = 32;
    /** Adam learning rate of the adapter training. */
    static final double LEARNING_RATE = 0.01;

    private ExampleSupport() {
    }

    /**
     * Runs ND4J ops on one OpenMP thread. The example networks are tiny: there, extra OpenMP threads
     * cost more in spinning than they save (several times slower on a busy 2-core machine). Leave the
     * default for real models.
     */
    static void tinyNetworkThreads() {
        Nd4j.getEnvironment().setMaxThreads(1);
        Nd4j.getEnvironment().setMaxMasterThreads(1);
    }

    /**
     * A freshly initialized (stand-in for pretrained) dense classifier: {@code dense_0 (64 -> 64, tanh) ->
     * dense_1 (64 -> 64, tanh) -> out (64 -> 4, softmax)}, float, Adam.
     *
     * @param seed weight initialization seed
     * @return the initialized network
     */
    static MultiLayerNetwork denseNetwork(long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.FLOAT)
                .updater(new Adam(LEARNING_RATE)).list()
                .layer(new DenseLayer.Builder().name("dense_0").nIn(WIDTH).nOut(WIDTH)
                        .activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().name("dense_1").nIn(WIDTH).nOut(WIDTH)
                        .activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nIn(WIDTH)
                        .nOut(CLASSES).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /**
     * A small conv classifier on {@code [N, 3, 8, 8]} images: {@code conv_0 (3 -> 32, 3x3, tanh) -> conv_1
     * (32 -> 32, 3x3, tanh) -> out (512 -> 4, softmax)}, float, Adam.
     *
     * @param seed weight initialization seed
     * @return the initialized network
     */
    static MultiLayerNetwork convNetwork(long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.FLOAT)
                .updater(new Adam(LEARNING_RATE)).list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv_0").nOut(CONV_CHANNELS)
                        .activation(Activation.TANH).build())
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv_1").nOut(CONV_CHANNELS)
                        .activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(IMAGE, IMAGE, CONV_IN))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /**
     * A synthetic task: inputs uniform in [-1, 1), each labelled with the argmax of a random linear
     * "teacher" {@code T [features, 4]} applied to the flattened input.
     *
     * @param inputShape  {@code [N, ...]}
     * @param dataSeed    seed of the inputs
     * @param teacherSeed seed of the teacher (the task)
     * @return inputs and one-hot labels {@code [N, 4]}, float
     */
    static DataSet teacherTask(long[] inputShape, long dataSeed, long teacherSeed) {
        INDArray x = uniform(inputShape, dataSeed);
        long n = inputShape[0];
        INDArray flat = x.reshape('c', n, x.length() / n);
        INDArray teacher = uniform(new long[] {flat.columns(), CLASSES}, teacherSeed);
        INDArray scores = flat.mmul(teacher);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, n, CLASSES);
        for (int i = 0; i < n; i++) {
            labels.putScalar(i, scores.getRow(i).argMax().getInt(0), 1.0);
        }
        return new DataSet(x, labels);
    }

    /**
     * @param shape any shape
     * @param seed  seed
     * @return float values uniform in [-1, 1), 'c' order
     */
    static INDArray uniform(long[] shape, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (2 * r.nextDouble() - 1);
        }
        return Nd4j.create(v, shape, 'c');
    }

    /**
     * @return the largest absolute element-wise difference of two arrays of the same shape
     */
    static double maxAbsDiff(INDArray a, INDArray b) {
        return a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
    }

    /**
     * @return the fraction of rows whose argmax matches the one-hot labels
     */
    static double accuracy(INDArray probabilities, INDArray labels) {
        long n = labels.rows();
        int hit = 0;
        for (int i = 0; i < n; i++) {
            if (probabilities.getRow(i).argMax().getInt(0) == labels.getRow(i).argMax().getInt(0)) {
                hit++;
            }
        }
        return (double) hit / n;
    }

    /**
     * Full-batch training steps.
     *
     * @param net   the network, modified
     * @param data  the batch
     * @param steps number of steps
     */
    static void train(MultiLayerNetwork net, DataSet data, int steps) {
        for (int i = 0; i < steps; i++) {
            net.fit(data);
        }
    }

    /**
     * The common example: applies {@code adapter} to {@code base}, trains {@code steps} full-batch steps on
     * {@code data}, merges, and measures everything {@link AdapterRun} reports.
     *
     * @param name    the example's name
     * @param adapter the adapter options
     * @param base    the frozen network, not modified
     * @param targets the layers to adapt
     * @param data    the training batch
     * @param steps   training steps
     * @return what happened
     */
    static AdapterRun adaptTrainMerge(String name, LokrAdapter adapter, MultiLayerNetwork base, Targets targets,
                                      DataSet data, int steps) {
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(adapter, base, targets);
        MultiLayerNetwork net = adapted.network();
        Map<String, INDArray> frozen = new LinkedHashMap<>();   // network keys of each adapted layer's W and b
        for (String layer : adapted.adaptedLayers()) {
            for (String key : new String[] {"W", "b"}) {
                if (net.getLayer(layer).paramTable().containsKey(key)) {
                    String netKey = net.getLayer(layer).getIndex() + "_" + key;
                    frozen.put(netKey, net.getParam(netKey).dup());
                }
            }
        }
        double before = net.score(data);
        train(net, data, steps);
        double after = net.score(data);

        boolean unchanged = true;
        for (Map.Entry<String, INDArray> e : frozen.entrySet()) {
            unchanged &= e.getValue().equals(net.getParam(e.getKey()));
        }
        INDArray x = data.getFeatures();
        INDArray adaptedOut = net.output(x);
        adapted.setEnabled(false);
        INDArray baseOut = net.output(x);
        adapted.setEnabled(true);
        MultiLayerNetwork merged = adapted.merge();
        INDArray mergedOut = merged.output(x);
        return new AdapterRun(name, adapted.report(), adapted.layouts(), adapted.adapterParamCount(),
                adapted.totalParamCount(), before, after, steps, maxAbsDiff(adaptedOut, baseOut),
                maxAbsDiff(mergedOut, adaptedOut), unchanged);
    }
}
