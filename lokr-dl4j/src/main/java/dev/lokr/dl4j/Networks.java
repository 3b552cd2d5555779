package dev.lokr.dl4j;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

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

    /** @return the network's data type */
    static DataType dataType(Model net) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).getLayerWiseConfigurations().getDataType()
                : ((ComputationGraph) net).getConfiguration().getDataType();
    }

    /**
     * A new, initialised network with the configuration of {@code net} in which the layers named in
     * {@code replacements} have the given configurations. Every parameter whose layer and key exist in both
     * networks with one shape is copied exactly; the listeners are carried over.
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
            c.setIterationCount(mln.getLayerWiseConfigurations().getIterationCount());
            c.setEpochCount(mln.getLayerWiseConfigurations().getEpochCount());
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
            c.setIterationCount(cg.getConfiguration().getIterationCount());
            c.setEpochCount(cg.getConfiguration().getEpochCount());
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
