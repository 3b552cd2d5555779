package dev.lokr.dl4j.offload;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Networks, data and listeners for the offload tests. */
final class OffloadFixtures {

    static final int IN = 10;
    static final int HIDDEN = 12;
    static final int CLASSES = 4;
    static final int CHANNELS = 3;
    static final int IMAGE = 5;

    private OffloadFixtures() {
    }

    /** One OpenMP thread: the networks are tiny and the machine is shared. */
    static void singleThreaded() {
        Nd4j.getEnvironment().setMaxThreads(1);
        Nd4j.getEnvironment().setMaxMasterThreads(1);
    }

    static NeuralNetConfiguration.ListBuilder base(DataType type, long seed) {
        return new NeuralNetConfiguration.Builder().seed(seed).dataType(type).updater(new Adam(1e-2))
                .trainingWorkspaceMode(WorkspaceMode.ENABLED).inferenceWorkspaceMode(WorkspaceMode.ENABLED)
                .list();
    }

    static DenseLayer dense(String name, int nIn, int nOut, boolean frozen) {
        DenseLayer.Builder b = new DenseLayer.Builder().name(name).nIn(nIn).nOut(nOut).activation(Activation.TANH);
        if (frozen) {
            b.updater(new NoOp());
        }
        return b.build();
    }

    static OutputLayer out(int nIn) {
        return new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nIn(nIn).nOut(CLASSES)
                .activation(Activation.SOFTMAX).build();
    }

    static MultiLayerNetwork init(MultiLayerConfiguration conf) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** enc_0 (NoOp) -> enc_1 (NoOp) -> dense_2 -> out: a two-layer encoder. */
    static MultiLayerNetwork denseNet(DataType type, long seed) {
        return init(base(type, seed)
                .layer(dense("enc_0", IN, HIDDEN, true))
                .layer(dense("enc_1", HIDDEN, HIDDEN, true))
                .layer(dense("dense_2", HIDDEN, HIDDEN, false))
                .layer(out(HIDDEN))
                .build());
    }

    /** conv_0 (NoOp, 3x3) on [n, 3, 5, 5] -> dense_1 (after a CNN-to-dense preprocessor) -> out. */
    static MultiLayerNetwork convNet(DataType type, long seed) {
        return init(base(type, seed)
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv_0").nOut(6).activation(Activation.TANH)
                        .updater(new NoOp()).build())
                .layer(new DenseLayer.Builder().name("dense_1").nOut(HIDDEN).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(IMAGE, IMAGE, CHANNELS))
                .build());
    }

    /**
     * The same network with layers {@code 0..k-1} wrapped in FrozenLayerWithBackprop and the same parameters:
     * the reference whose normal training keeps the encoder fixed (DL4J's NoOp alone does not).
     */
    static MultiLayerNetwork wrapEncoder(MultiLayerNetwork net, int k) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations().clone();
        for (int i = 0; i < k; i++) {
            conf.getConf(i).setLayer(new FrozenLayerWithBackprop(conf.getConf(i).getLayer()));
        }
        MultiLayerNetwork wrapped = init(conf);
        wrapped.setParams(net.params());
        return wrapped;
    }

    /** Batches of uniform features and one-hot labels; the last batch is smaller. */
    static List<DataSet> data(long[] featureShape, int batches, DataType type, boolean labelMask, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            long n = b == batches - 1 ? featureShape[0] - 3 : featureShape[0];
            long[] shape = featureShape.clone();
            shape[0] = n;
            INDArray x = uniform(shape, type, r);
            INDArray y = Nd4j.zeros(type, n, CLASSES);
            INDArray mask = labelMask ? Nd4j.ones(type, n, 1) : null;
            for (int i = 0; i < n; i++) {
                y.putScalar(i, r.nextInt(CLASSES), 1.0);
                if (mask != null && r.nextInt(3) == 0) {
                    mask.putScalar(i, 0, 0.0);
                }
            }
            out.add(new DataSet(x, y, null, mask));
        }
        return out;
    }

    static INDArray uniform(long[] shape, DataType type, SplittableRandom r) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = r.nextDouble() * 2 - 1;
        }
        return Nd4j.create(v, shape, 'c').castTo(type);
    }

    /** Collects the score after every iteration. */
    static final class Scores extends BaseTrainingListener {
        final List<Double> values = new ArrayList<>();

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            values.add(model.score());
        }
    }

    /** A resettable, synchronous iterator over fixed batches, returning copies. */
    static final class Batches implements DataSetIterator {
        private static final long serialVersionUID = 1L;
        private final transient List<DataSet> batches;
        private int next;

        Batches(List<DataSet> batches) {
            this.batches = batches;
        }

        @Override
        public boolean hasNext() {
            return next < batches.size();
        }

        @Override
        public DataSet next() {
            return batches.get(next++).copy();
        }

        @Override
        public DataSet next(int num) {
            return next();
        }

        @Override
        public int inputColumns() {
            return (int) batches.get(0).getFeatures().size(1);
        }

        @Override
        public int totalOutcomes() {
            return CLASSES;
        }

        @Override
        public boolean resetSupported() {
            return true;
        }

        @Override
        public boolean asyncSupported() {
            return false;
        }

        @Override
        public void reset() {
            next = 0;
        }

        @Override
        public int batch() {
            return batches.get(0).numExamples();
        }

        @Override
        public void setPreProcessor(DataSetPreProcessor preProcessor) {
            throw new UnsupportedOperationException("not used by the tests");
        }

        @Override
        public DataSetPreProcessor getPreProcessor() {
            return null;
        }

        @Override
        public List<String> getLabels() {
            return null;
        }
    }
}
