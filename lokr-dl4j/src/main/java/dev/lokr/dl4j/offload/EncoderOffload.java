package dev.lokr.dl4j.offload;

import dev.lokr.dl4j.Frozen;
import dev.lokr.dl4j.conf.LokrLayer;
import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationRReLU;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Runs the frozen prefix (the "encoder") of a network once and trains the rest (the "head") on its cached
 * outputs.
 * <pre>{@code
 * try (FeatureCache cache = FeatureCache.mappedFile(dir.resolve("features.bin"))) {
 *     OffloadedTraining off = EncoderOffload.prepare(net, trainData, cache);
 *     off.head().setListeners(new ScoreIterationListener(10));
 *     off.fit(5);
 *     off.writeBack(net);   // net = unchanged encoder + trained head
 * }
 * }</pre>
 *
 * <p>The encoder is the longest run of leading layers with nothing to train: a layer belongs to it if it is
 * a {@link FrozenLayer} or {@link FrozenLayerWithBackprop}, has no parameters, or has, for every parameter
 * ({@code getUpdaterByParam}), the {@link NoOp} updater or a zero-rate {@link Sgd} (a plain {@code Sgd(0)}, or
 * {@link dev.lokr.dl4j.Frozen#updater()}, which {@code LokrNetworks.apply(..., freezeOthers=true)} gives). It stops at the first trainable layer: later
 * frozen layers stay in the head. The head is a new {@link MultiLayerNetwork} of clones of the remaining
 * layers' configurations and input preprocessors with exact copies of their parameters (and updater
 * state when its size matches, iteration and epoch counts), so the encoder is not part of the training graph at all: no
 * forward or backward pass through it, and none of its activations or gradients are held while training.
 *
 * <p><b>NoOp is not a freeze in DL4J.</b> DL4J's {@link NoOp} updater passes the gradient through unchanged,
 * and {@code fit} then subtracts it from the parameters: a plain layer whose only "freeze" is a NoOp updater
 * still moves during normal training, by its raw gradient (learning rate 1). It stays fixed only if its
 * gradient is zero, as for the frozen {@code W} and {@code b} of a LoKR layer, or if it is wrapped in
 * {@code FrozenLayer}/{@code FrozenLayerWithBackprop}, whose parameter gradients DL4J zeroes. The encoder
 * treats NoOp-only layers as frozen (that is what the configuration asks for) and keeps them fixed, so for
 * such a network offloaded training equals normal training of the same network with those layers wrapped
 * in {@code FrozenLayerWithBackprop}, not of the network as configured.
 *
 * <p>With no data augmentation and an encoder that {@code fit} does not move (see above), the head's scores
 * and final weights equal those of {@code net.fit} on the same data and order (within float rounding).
 * <b>The order is the first pass's:</b> the source is read once, and every epoch replays the cached batches
 * in that order, so an iterator that reshuffles on {@code reset()} is not reshuffled between epochs (as it
 * would be under {@code net.fit}); shuffle the examples once before caching instead.
 * To keep that promise {@code prepare} refuses an encoder
 * whose training-mode output would differ between passes or whose weights {@code fit} would still move:
 * a layer with dropout, weight noise or the RReLU activation (random slopes in training), a
 * {@link BatchNormalization} (its running statistics move in training), or a layer with regularization
 * (L1, L2, weight decay) or constraints (applied after every step, update or not), unless the layer is
 * wrapped in {@code FrozenLayer} or
 * {@code FrozenLayerWithBackprop} (which run it in inference mode and never update it). It also refuses
 * feature masks (the mask the head needs depends on each encoder layer's mask propagation) and truncated
 * BPTT; label masks are supported.
 *
 * <p>On CUDA the point is memory: after {@code prepare} only the head's arrays take part in training, so
 * the original network's device buffers (the encoder's weights and, more importantly, its activations and
 * workspaces) need not be resident; a caller that holds only the head and the cache can drop the original
 * network and call {@code writeBack} on a reloaded copy. Only the CPU backend is tested here.
 *
 * <p>{@link ComputationGraph} is not supported (see {@link #prepare(ComputationGraph, DataSetIterator,
 * FeatureCache)}).
 */
public final class EncoderOffload {

    private static final Logger LOG = LoggerFactory.getLogger(EncoderOffload.class);

    private EncoderOffload() {
    }

    /**
     * The length of the frozen prefix: the number of leading layers that are frozen (see the class doc).
     *
     * @param net an initialised network
     * @return k such that layers {@code 0..k-1} are frozen and layer {@code k} (if any) is trainable; 0 when
     *         layer 0 is trainable, the layer count when every layer is frozen
     */
    public static int frozenPrefix(MultiLayerNetwork net) {
        Objects.requireNonNull(net, "net");
        checkInitialised(net);
        int n = net.getnLayers();
        for (int i = 0; i < n; i++) {
            if (trainableParam(net, i) != null) {
                return i;
            }
        }
        return n;
    }

    /**
     * Runs the encoder over {@code data} once, fills {@code cache} with its outputs (with the labels and label
     * masks, batch by batch in the same order) and builds the head. The network is not modified. If
     * {@code data} has no next batch and supports reset, it is reset first (as {@code fit} does).
     *
     * @param net   an initialised network whose leading layers are frozen and that has a trainable layer
     * @param data  the training data, read once; the batches the head will train on, in this order, every epoch
     * @param cache an empty cache; owned by the caller, who closes it after training (also if this method
     *              fails: it may then hold the batches cached so far)
     * @return the head, ready to train on the cached features
     * @throws IllegalArgumentException if no leading layer is frozen (naming the first layer and its trainable
     *                                  parameter), if every layer is frozen, if an encoder layer has dropout,
     *                                  weight noise, an RReLU activation, batch normalization, regularization
     *                                  or constraints (naming it), if a batch has a
     *                                  feature mask, if {@code data} is empty or {@code cache} is not, or
     *                                  if the network uses truncated BPTT
     */
    public static OffloadedTraining prepare(MultiLayerNetwork net, DataSetIterator data, FeatureCache cache) {
        Objects.requireNonNull(net, "net");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(cache, "cache");
        checkInitialised(net);
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        if (conf.getBackpropType() == BackpropType.TruncatedBPTT) {
            throw new IllegalArgumentException("the network uses truncated BPTT; encoder offload supports only"
                    + " standard backprop (the head would see whole sequences, not segments)");
        }
        int n = net.getnLayers();
        int k = frozenPrefix(net);
        if (k == 0) {
            throw new IllegalArgumentException("the network has no frozen prefix, so there is no encoder to"
                    + " offload: its first layer " + describe(net, 0) + " has the trainable parameter '"
                    + trainableParam(net, 0) + "' (updater " + layerConf(net, 0).getUpdaterByParam(
                    trainableParam(net, 0)) + "); give the leading layers the NoOp updater or wrap them in"
                    + " FrozenLayer");
        }
        if (k == n) {
            throw new IllegalArgumentException("all " + n + " layers of the network are frozen; there is"
                    + " nothing to train");
        }
        for (int i = 0; i < k; i++) {
            checkEncoderLayer(net, i);
            if (frozenByNoOp(net, i)) {
                LOG.info("encoder layer {} is frozen by NoOp updaters only; DL4J's fit would still move it by its"
                        + " raw gradient unless that gradient is zero, offload keeps it fixed", describe(net, i));
            }
        }
        if (cache.size() != 0) {
            throw new IllegalArgumentException("the cache already holds " + cache.size() + " batches; pass an"
                    + " empty cache");
        }
        MultiLayerNetwork head = buildHead(net, k);
        if (!data.hasNext() && data.resetSupported()) {
            data.reset();
        }
        int batches = 0;
        net.setLayerMaskArrays(null, null);
        while (data.hasNext()) {
            DataSet ds = data.next();
            if (ds.getFeaturesMaskArray() != null) {
                throw new IllegalArgumentException("batch " + batches + " has a feature mask "
                        + java.util.Arrays.toString(ds.getFeaturesMaskArray().shape()) + "; encoder offload"
                        + " does not support feature masks (label masks are supported)");
            }
            INDArray features = encode(net, k, ds.getFeatures());
            cache.add(new DataSet(features, ds.getLabels(), null, ds.getLabelsMaskArray()));
            batches++;
        }
        if (batches == 0) {
            throw new IllegalArgumentException("data has no batches (after reset); nothing to cache");
        }
        LOG.debug("offloaded encoder layers 0..{} over {} batches ({} bytes cached)", k - 1, batches,
                cache.sizeInBytes());
        return new OffloadedTraining(k, n, encoderParamCounts(net, k), head, cache);
    }

    /**
     * Not supported: encoder offload works on {@link MultiLayerNetwork}s only. A graph's frozen "prefix" is
     * a cut through a DAG (several inputs, skip connections that cross the cut, vertices without layers),
     * and its head would need the activations of every vertex crossing the cut; this is not implemented.
     * Convert a chain graph to a {@code MultiLayerNetwork} first.
     *
     * @param net   a graph
     * @param data  unused
     * @param cache unused
     * @return never
     * @throws UnsupportedOperationException always, naming the limitation
     */
    public static OffloadedTraining prepare(ComputationGraph net, DataSetIterator data, FeatureCache cache) {
        Objects.requireNonNull(net, "net");
        throw new UnsupportedOperationException("encoder offload does not support ComputationGraph (graph with "
                + net.getNumLayers() + " layers): cutting a graph needs every activation that crosses the cut,"
                + " which is not implemented; build the network as a MultiLayerNetwork instead");
    }

    /** @return the encoder's output for features: the input of layer k, before layer k's preprocessor */
    static INDArray encode(MultiLayerNetwork net, int k, INDArray features) {
        List<INDArray> acts = net.feedForwardToLayer(k - 1, features, true);
        INDArray out = acts.get(acts.size() - 1);
        return out.isAttached() ? out.detach() : out;
    }

    private static void checkInitialised(MultiLayerNetwork net) {
        if (net.getLayers() == null) {
            throw new IllegalArgumentException("the network is not initialised; call init() first");
        }
    }

    /** @return the first parameter of layer i that trains, or null if the layer is frozen */
    static String trainableParam(MultiLayerNetwork net, int i) {
        Layer lc = layerConf(net, i);
        for (String p : net.getLayer(i).paramTable().keySet()) {
            if (!Frozen.isFrozen(lc, p)) {
                return p;
            }
        }
        return null;
    }

    private static boolean frozenByNoOp(MultiLayerNetwork net, int i) {
        Layer lc = layerConf(net, i);
        if (Frozen.isFrozenLayer(lc)) {
            return false;
        }
        for (String p : net.getLayer(i).paramTable().keySet()) {
            if (lc.getUpdaterByParam(p) instanceof NoOp) {
                return true;
            }
        }
        return false;
    }

    private static void checkEncoderLayer(MultiLayerNetwork net, int i) {
        Layer lc = layerConf(net, i);
        if (Frozen.isFrozenLayer(lc)) {
            return;
        }
        if (lc.getIDropout() != null) {
            throw new IllegalArgumentException("encoder layer " + describe(net, i) + " has dropout "
                    + lc.getIDropout() + ", so its output differs in every pass and cannot be cached; remove it"
                    + " or wrap the layer in FrozenLayer (inference mode)");
        }
        if (lc instanceof LokrLayer ll && (ll.getRankDropout() > 0 || ll.getModuleDropout() > 0)) {
            throw new IllegalArgumentException("encoder layer " + describe(net, i) + " has LoKR rank dropout "
                    + ll.getRankDropout() + " and module dropout " + ll.getModuleDropout() + ", so its output differs"
                    + " in every pass and cannot be cached; set both to 0 (setRankDropout, setModuleDropout) or wrap"
                    + " the layer in FrozenLayer (inference mode)");
        }
        if (lc instanceof org.deeplearning4j.nn.conf.layers.BaseLayer bl && bl.getWeightNoise() != null) {
            throw new IllegalArgumentException("encoder layer " + describe(net, i) + " has weight noise "
                    + bl.getWeightNoise() + ", so its output differs in every pass and cannot be cached; remove it"
                    + " or wrap the layer in FrozenLayer (inference mode)");
        }
        if (lc.getConstraints() != null && !lc.getConstraints().isEmpty()) {
            throw new IllegalArgumentException("encoder layer " + describe(net, i) + " has constraints "
                    + lc.getConstraints() + ", which DL4J's training applies to its parameters after every step even"
                    + " when they get no update, so they would not stay fixed; remove them or wrap the layer in"
                    + " FrozenLayer");
        }
        IActivation activation = lc instanceof org.deeplearning4j.nn.conf.layers.BaseLayer bl ? bl.getActivationFn()
                : lc instanceof ActivationLayer al ? al.getActivationFn() : null;
        if (activation instanceof ActivationRReLU) {
            throw new IllegalArgumentException("encoder layer " + describe(net, i) + " has activation " + activation
                    + ", whose slopes are random in training, so its output differs in every pass and cannot be"
                    + " cached; use another activation or wrap the layer in FrozenLayer (inference mode)");
        }
        if (lc instanceof BatchNormalization) {
            throw new IllegalArgumentException("encoder layer " + describe(net, i) + " is a BatchNormalization,"
                    + " whose running statistics change in training; wrap it in FrozenLayer (inference mode)");
        }
        for (String p : net.getLayer(i).paramTable().keySet()) {
            if (lc.getRegularizationByParam(p) != null && !lc.getRegularizationByParam(p).isEmpty()) {
                throw new IllegalArgumentException("encoder layer " + describe(net, i) + " has regularization "
                        + lc.getRegularizationByParam(p) + " on parameter '" + p + "', which changes the score"
                        + " (and, for weight decay, the weights) of normal training; remove it or wrap the layer"
                        + " in FrozenLayer");
            }
        }
    }

    private static MultiLayerNetwork buildHead(MultiLayerNetwork net, int k) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        int n = net.getnLayers();
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        Map<Integer, InputPreProcessor> pre = new HashMap<>();
        for (int i = k; i < n; i++) {
            confs.add(conf.getConf(i).clone());
            InputPreProcessor p = conf.getInputPreProcess(i);
            if (p != null) {
                pre.put(i - k, p.clone());
            }
        }
        MultiLayerConfiguration headConf = new MultiLayerConfiguration.Builder()
                .confs(confs)
                .inputPreProcessors(pre)
                .backpropType(conf.getBackpropType())
                .trainingWorkspaceMode(conf.getTrainingWorkspaceMode())
                .inferenceWorkspaceMode(conf.getInferenceWorkspaceMode())
                .cacheMode(conf.getCacheMode())
                .dataType(conf.getDataType())
                .build();
        headConf.setIterationCount(conf.getIterationCount());
        headConf.setEpochCount(conf.getEpochCount());
        MultiLayerNetwork head = new MultiLayerNetwork(headConf);
        head.init();
        copyParams(net, k, head, 0, n - k);
        OffloadedTraining.copyUpdaterState(net, head, "network", "head");
        return head;
    }

    /** Copies the parameters of count layers, layer by layer, checking their sizes. */
    static void copyParams(MultiLayerNetwork from, int fromStart, MultiLayerNetwork to, int toStart, int count) {
        List<INDArray> parts = new ArrayList<>();
        for (int j = 0; j < to.getnLayers(); j++) {
            INDArray own = to.getLayer(j).params();
            if (j >= toStart && j < toStart + count) {
                INDArray src = from.getLayer(fromStart + j - toStart).params();
                long a = src == null ? 0 : src.length();
                long b = own == null ? 0 : own.length();
                if (a != b) {
                    throw new IllegalArgumentException("layer " + describe(from, fromStart + j - toStart)
                            + " has " + a + " parameters but the matching layer " + describe(to, j) + " has " + b);
                }
                own = src;
            }
            if (own != null && own.length() > 0) {
                parts.add(own);
            }
        }
        if (parts.isEmpty()) {
            return;
        }
        INDArray flat = Nd4j.toFlattened('c', parts);
        to.setParams(flat.reshape(to.params().shape()));
    }

    private static long[] encoderParamCounts(MultiLayerNetwork net, int k) {
        long[] counts = new long[k];
        for (int i = 0; i < k; i++) {
            counts[i] = net.getLayer(i).numParams();
        }
        return counts;
    }

    /**
     * The configuration that decides how layer {@code i} trains: the layer itself, or the layer inside
     * {@code TimeDistributed}, {@code LastTimeStep} or {@code MaskZeroLayer} wrappers (a {@code FrozenLayer} or
     * {@code FrozenLayerWithBackprop} at any level is returned: it decides).
     */
    static Layer layerConf(MultiLayerNetwork net, int i) {
        return Frozen.trainingLayer(net.getLayerWiseConfigurations().getConf(i).getLayer());
    }

    static String describe(MultiLayerNetwork net, int i) {
        Layer lc = net.getLayerWiseConfigurations().getConf(i).getLayer();
        return i + " ('" + lc.getLayerName() + "', " + lc.getClass().getSimpleName() + ")";
    }
}
