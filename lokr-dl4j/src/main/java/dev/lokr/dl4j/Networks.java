package dev.lokr.dl4j;

import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;

/** The few operations on a {@link MultiLayerNetwork} or a {@link ComputationGraph} that adapting and merging need. */
final class Networks {

    private Networks() {
    }

    /**
     * @param net an initialised network
     * @return its runtime layers (MultiLayerNetwork: in order; ComputationGraph: topological order)
     * @throws IllegalArgumentException if the network is of another kind or not initialised
     */
    static List<Layer> layers(Model net) {
        Layer[] layers;
        if (net instanceof MultiLayerNetwork) {
            layers = ((MultiLayerNetwork) net).getLayers();
        } else if (net instanceof ComputationGraph) {
            layers = ((ComputationGraph) net).getLayers();
        } else {
            throw new IllegalArgumentException("need a MultiLayerNetwork or a ComputationGraph, got "
                    + (net == null ? null : net.getClass().getName()));
        }
        if (layers == null || net.params() == null) {
            throw new IllegalArgumentException("the network is not initialised: call init() first");
        }
        return Arrays.asList(layers);
    }

    /** @return whether {@code x} holds NaN or an infinity */
    static boolean hasNonFinite(org.nd4j.linalg.api.ndarray.INDArray x) {
        return org.nd4j.linalg.indexing.BooleanIndexing.or(x, org.nd4j.linalg.indexing.conditions.Conditions.notFinite());
    }

    /** @return the name of a runtime layer */
    static String name(Layer layer) {
        return layer.conf().getLayer().getLayerName();
    }

    /**
     * The configuration of a runtime layer as the network's configuration holds it. For a wrapper
     * ({@code FrozenLayer}, {@code FrozenLayerWithBackprop}, {@code TimeDistributed}, {@code LastTimeStep},
     * {@code MaskZeroLayer}) that is the wrapper itself: the runtime layer's own {@code conf()} reports the
     * wrapped layer's configuration, which would make a wrapped dense layer look like a bare one.
     *
     * @param net   the network holding {@code layer}
     * @param layer one of its runtime layers
     * @return the layer's configuration in the network's configuration
     */
    static org.deeplearning4j.nn.conf.layers.Layer conf(Model net, Layer layer) {
        org.deeplearning4j.nn.conf.layers.Layer found = null;
        if (net instanceof MultiLayerNetwork) {
            List<NeuralNetConfiguration> confs = ((MultiLayerNetwork) net).getLayerWiseConfigurations().getConfs();
            int i = layer.getIndex();
            if (i >= 0 && i < confs.size()) {
                found = confs.get(i).getLayer();
            }
        } else if (net instanceof ComputationGraph) {
            GraphVertex v = ((ComputationGraph) net).getConfiguration().getVertices().get(name(layer));
            if (v instanceof LayerVertex) {
                found = ((LayerVertex) v).getLayerConf().getLayer();
            }
        }
        if (found == null || !Objects.equals(found.getLayerName(), name(layer))) {
            throw new IllegalStateException("cannot find the configuration of layer '" + name(layer) + "' in "
                    + (net == null ? null : net.getClass().getSimpleName()) + " (found " + found + ")");
        }
        return found;
    }

    /**
     * The LoKR layer of a runtime layer: the layer itself, or the one inside DL4J's runtime wrappers
     * ({@code FrozenLayer}, {@code FrozenLayerWithBackprop}, {@code TimeDistributed}, ..., nested too), as
     * {@code TransferLearning.setFeatureExtractor} leaves an adapted layer it freezes.
     *
     * @param layer a runtime layer
     * @return its LoKR layer, or null when there is none
     */
    static BaseLokrLayerImpl lokrLayer(Layer layer) {
        Layer l = layer;
        while (l instanceof org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer) {
            l = ((org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer) l).getUnderlying();
        }
        return l instanceof BaseLokrLayerImpl ? (BaseLokrLayerImpl) l : null;
    }

    /**
     * @param conf a layer configuration
     * @return the layer inside its {@link BaseWrapperLayer}s and {@link FrozenLayer}s (nested too), or
     *         {@code conf} itself when it wraps nothing
     */
    static org.deeplearning4j.nn.conf.layers.Layer innermost(org.deeplearning4j.nn.conf.layers.Layer conf) {
        org.deeplearning4j.nn.conf.layers.Layer c = conf;
        while (true) {
            if (c instanceof BaseWrapperLayer) {
                c = ((BaseWrapperLayer) c).getUnderlying();
            } else if (c instanceof FrozenLayer) {
                c = ((FrozenLayer) c).getLayer();
            } else {
                return c;
            }
        }
    }

    /**
     * A copy of a layer configuration whose innermost layer (inside {@link BaseWrapperLayer}s and
     * {@link FrozenLayer}s, nested too) is {@code f} of that layer; the wrappers are copied around it.
     *
     * @param conf a layer configuration, not modified
     * @param f    maps the innermost layer to its replacement (given the original, it must not modify it),
     *             or to null
     * @return the copy, or null when {@code f} returns null
     */
    static org.deeplearning4j.nn.conf.layers.Layer mapInnermost(org.deeplearning4j.nn.conf.layers.Layer conf,
            UnaryOperator<org.deeplearning4j.nn.conf.layers.Layer> f) {
        if (conf instanceof BaseWrapperLayer) {
            org.deeplearning4j.nn.conf.layers.Layer inner = mapInnermost(((BaseWrapperLayer) conf).getUnderlying(), f);
            if (inner == null) {
                return null;
            }
            BaseWrapperLayer wrapper = (BaseWrapperLayer) conf.clone();
            wrapper.setUnderlying(inner);
            return wrapper;
        }
        if (conf instanceof FrozenLayer) {
            org.deeplearning4j.nn.conf.layers.Layer inner = mapInnermost(((FrozenLayer) conf).getLayer(), f);
            if (inner == null) {
                return null;
            }
            FrozenLayer wrapper = new FrozenLayer(inner);   // its only state is the layer and the name
            wrapper.setLayerName(conf.getLayerName());
            return wrapper;
        }
        return f.apply(conf);
    }

    /** @return the network's data type */
    static DataType dataType(Model net) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).getLayerWiseConfigurations().getDataType()
                : ((ComputationGraph) net).getConfiguration().getDataType();
    }

    /**
     * A new, initialised network with the configuration of {@code net} in which the layers named in
     * {@code replacements} have the given configurations. Every parameter whose layer and key exist in both
     * networks with one shape is copied exactly; the listeners are carried over. The updater state is not: the
     * new network starts with fresh updater state, and so with iteration and epoch counts of 0, as a newly built
     * network does (Adam's bias correction and learning-rate schedules count from its first step, as with a new
     * optimizer in PyTorch; carrying a pretrained network's count over skipped Adam's bias correction, which
     * scaled a fresh Adam's first steps by 0.6 to 3.2, depending on the count).
     *
     * @param net          the source network, not modified
     * @param replacements layer name to its new configuration
     * @param <N>          MultiLayerNetwork or ComputationGraph
     * @return the new network
     */
    @SuppressWarnings("unchecked")
    static <N extends Model> N rebuild(N net, Map<String, org.deeplearning4j.nn.conf.layers.Layer> replacements) {
        Model out;
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork mln = (MultiLayerNetwork) net;
            MultiLayerConfiguration c = mln.getLayerWiseConfigurations().clone();
            for (NeuralNetConfiguration nnc : c.getConfs()) {
                replace(nnc, replacements);
            }
            c.setIterationCount(0);
            c.setEpochCount(0);
            MultiLayerNetwork n = new MultiLayerNetwork(c);
            n.init();
            n.setListeners(new ArrayList<>(mln.getListeners()));
            out = n;
        } else {
            ComputationGraph cg = (ComputationGraph) net;
            ComputationGraphConfiguration c = cg.getConfiguration().clone();
            for (GraphVertex v : c.getVertices().values()) {
                if (v instanceof LayerVertex) {
                    replace(((LayerVertex) v).getLayerConf(), replacements);
                }
            }
            c.setIterationCount(0);
            c.setEpochCount(0);
            ComputationGraph n = new ComputationGraph(c);
            n.init();
            n.setListeners(new ArrayList<>(cg.getListeners()));
            out = n;
        }
        copyParams(net, out);
        return (N) out;
    }

    private static void replace(NeuralNetConfiguration nnc, Map<String, org.deeplearning4j.nn.conf.layers.Layer> replacements) {
        org.deeplearning4j.nn.conf.layers.Layer rep = replacements.get(nnc.getLayer().getLayerName());
        if (rep != null) {
            nnc.setLayer(rep);
            nnc.clearVariables();
        }
    }

    /** Copies every parameter present, with one shape, under the same layer and key in both networks. */
    private static void copyParams(Model from, Model to) {
        List<Layer> src = layers(from);
        List<Layer> dst = layers(to);
        for (int i = 0; i < dst.size(); i++) {
            Layer d = dst.get(i);
            Layer s = from instanceof MultiLayerNetwork ? src.get(i) : ((ComputationGraph) from).getLayer(name(d));
            Map<String, INDArray> dstTable = d.paramTable();
            Map<String, INDArray> srcTable = s == null ? null : s.paramTable();
            if (dstTable == null || srcTable == null) {
                continue;
            }
            for (Map.Entry<String, INDArray> e : dstTable.entrySet()) {
                INDArray old = srcTable.get(e.getKey());
                if (old != null && Arrays.equals(old.shape(), e.getValue().shape())) {
                    e.getValue().assign(old);
                }
            }
        }
    }
}
