package dev.lokr.dl4j.offload;

import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Objects;

/**
 * The trainable head of a network and the cached outputs of its frozen encoder, made by
 * {@link EncoderOffload#prepare}. Train the head with {@link #fit(int)} (or {@code head().fit(features())}),
 * then copy it into the full network with {@link #writeBack(MultiLayerNetwork)}. The cache belongs to the
 * caller, who closes it when done; once it is closed, {@link #features()} and {@link #fit(int)} fail.
 */
public final class OffloadedTraining {

    private static final Logger LOG = LoggerFactory.getLogger(OffloadedTraining.class);

    private final int encoderLayers;
    private final int totalLayers;
    private final long[] encoderParamCounts;
    private final MultiLayerNetwork head;
    private final FeatureCache cache;

    OffloadedTraining(int encoderLayers, int totalLayers, long[] encoderParamCounts, MultiLayerNetwork head,
                      FeatureCache cache) {
        this.encoderLayers = encoderLayers;
        this.totalLayers = totalLayers;
        this.encoderParamCounts = encoderParamCounts;
        this.head = head;
        this.cache = cache;
    }

    /**
     * @return the head: a network of the original layers {@code encoderLayers()..n-1}, whose input is the
     *         encoder's output (before the first head layer's preprocessor). Add listeners here.
     */
    public MultiLayerNetwork head() {
        return head;
    }

    /**
     * @return the number of encoder layers k: layers {@code 0..k-1} of the original network
     */
    public int encoderLayers() {
        return encoderLayers;
    }

    /**
     * @return the cache holding the encoder's outputs
     */
    public FeatureCache cache() {
        return cache;
    }

    /**
     * A new iterator over the cached batches: features are the encoder's outputs, with the original labels
     * and label masks, in the original order and batch sizes. Resettable, not asynchronous.
     *
     * @return the iterator, at its start
     * @throws IllegalStateException if the cache is closed (on the first read)
     */
    public DataSetIterator features() {
        return new CachedFeatureIterator(cache);
    }

    /**
     * Trains the head on the cached features: {@code head().fit(features(), epochs)}.
     *
     * @param epochs the number of passes over the cache, at least 1
     * @throws IllegalArgumentException if epochs is below 1
     */
    public void fit(int epochs) {
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be at least 1, got " + epochs);
        }
        head.fit(features(), epochs);
    }

    /**
     * Copies the head into a network: its parameters into layers {@code k..n-1}, its updater state (when the
     * two have the same size, see {@link EncoderOffload}), its iteration and epoch counts, and its last score. The encoder's
     * parameters are not touched, so the result is the original encoder followed by the trained head.
     *
     * @param net the network {@code prepare} was given (or a copy with the same configuration)
     * @throws IllegalArgumentException if the network's layer count or any layer's parameter count differs
     *                                  from the one {@code prepare} was given
     */
    public void writeBack(MultiLayerNetwork net) {
        Objects.requireNonNull(net, "net");
        if (net.getnLayers() != totalLayers) {
            throw new IllegalArgumentException("the network has " + net.getnLayers() + " layers but the offloaded"
                    + " one had " + totalLayers + " (" + encoderLayers + " encoder + " + head.getnLayers()
                    + " head)");
        }
        for (int i = 0; i < encoderLayers; i++) {
            if (net.getLayer(i).numParams() != encoderParamCounts[i]) {
                throw new IllegalArgumentException("encoder layer " + EncoderOffload.describe(net, i) + " has "
                        + net.getLayer(i).numParams() + " parameters but had " + encoderParamCounts[i]);
            }
        }
        EncoderOffload.copyParams(head, 0, net, encoderLayers, head.getnLayers());
        copyUpdaterState(head, net, "head", "network");
        net.getLayerWiseConfigurations().setIterationCount(head.getLayerWiseConfigurations().getIterationCount());
        net.getLayerWiseConfigurations().setEpochCount(head.getLayerWiseConfigurations().getEpochCount());
        net.setScore(head.score());
    }

    /**
     * Copies updater state (for example Adam's moments) between a network and its head when both have the
     * same size (the encoder then holds no state). Otherwise nothing is copied: the head starts with fresh
     * updater state, or the network keeps its own.
     *
     * @return true if the state was copied
     */
    static boolean copyUpdaterState(MultiLayerNetwork from, MultiLayerNetwork to, String fromName, String toName) {
        Updater src = from.getUpdater(false);
        if (src == null || src.getStateViewArray() == null) {
            return false;
        }
        INDArray state = src.getStateViewArray();
        Updater dst = to.getUpdater(true);
        INDArray target = dst == null ? null : dst.getStateViewArray();
        if (target == null || target.length() != state.length()) {
            LOG.info("not copying updater state: the {}'s has {} values but the {}'s has {}", fromName,
                    state.length(), toName, target == null ? 0 : target.length());
            return false;
        }
        target.assign(state.reshape(target.shape()));
        return true;
    }
}
