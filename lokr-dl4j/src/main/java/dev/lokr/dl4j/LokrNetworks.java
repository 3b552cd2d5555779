package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import dev.lokr.dl4j.params.LokrParamInitializer;
import dev.lokr.math.LokrInit;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Adds LoKR adapters to DL4J networks.
 * <pre>{@code
 * LokrAdapter adapter = LokrAdapter.builder().rank(4).alpha(4).build();
 * LokrNetwork<MultiLayerNetwork> adapted =
 *         LokrNetworks.apply(adapter, net, Targets.names("dense_.*").orTypes(ConvolutionLayer.class));
 * adapted.network().fit(data);                 // trains the adapters only
 * MultiLayerNetwork merged = adapted.merge();  // a plain network with W' = W + dW
 * }</pre>
 */
public final class LokrNetworks {

    private static final Logger LOG = LoggerFactory.getLogger(LokrNetworks.class);

    private LokrNetworks() {
    }

    /**
     * Adapts the targeted layers of a network. The network is not modified: the result is a new network
     * with the same configuration, in which each targeted layer is a {@link LokrLayer} over a copy of its
     * configuration; every original parameter is copied bit for bit (the adapted layers' {@code W} and
     * {@code b} become frozen), and each adapter is initialised by {@link LokrInit} so that the new
     * network's outputs equal the original's.
     *
     * @param adapter the adapter options (the same for every targeted layer)
     * @param net     an initialised network, FLOAT or DOUBLE
     * @param targets which layers to adapt
     * @return the adapted network
     * @throws IllegalArgumentException if a targeted layer is not supported (naming it and its type), if
     *                                  nothing is targeted, if the network already has LoKR layers, if two
     *                                  layers share a name, or if it is not initialised or not FLOAT/DOUBLE
     */
    public static LokrNetwork<MultiLayerNetwork> apply(LokrAdapter adapter, MultiLayerNetwork net, Targets targets) {
        return LokrNetwork.wrap(adapt(adapter, Objects.requireNonNull(net, "net"), targets));
    }

    /**
     * Adapts the targeted layers of a graph; see {@link #apply(LokrAdapter, MultiLayerNetwork, Targets)}.
     *
     * @param adapter the adapter options
     * @param net     an initialised graph, FLOAT or DOUBLE
     * @param targets which layers (vertices) to adapt, by layer name or type
     * @return the adapted graph
     * @throws IllegalArgumentException as for the MultiLayerNetwork variant
     */
    public static LokrNetwork<ComputationGraph> apply(LokrAdapter adapter, ComputationGraph net, Targets targets) {
        return LokrNetwork.wrap(adapt(adapter, Objects.requireNonNull(net, "net"), targets));
    }

    private static <N extends Model> N adapt(LokrAdapter adapter, N net, Targets targets) {
        Objects.requireNonNull(adapter, "adapter");
        Objects.requireNonNull(targets, "targets");
        List<Layer> layers = Networks.layers(net);
        DataType type = Networks.dataType(net);
        if (type != DataType.FLOAT && type != DataType.DOUBLE) {
            throw new IllegalArgumentException("LoKR needs a FLOAT or DOUBLE network, got " + type);
        }
        List<String> already = new ArrayList<>();
        List<String> described = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (Layer l : layers) {
            String name = Networks.name(l);
            if (name == null || !names.add(name)) {
                throw new IllegalArgumentException("layer names must be unique and set, got '" + name
                        + "' more than once (or unset); name the layers to adapt the network");
            }
            if (l instanceof BaseLokrLayerImpl) {
                already.add(name);
            }
            described.add(name + " (" + Networks.conf(l).getClass().getSimpleName() + ")");
        }
        if (!already.isEmpty()) {
            throw new IllegalArgumentException("the network already has LoKR adapters on " + already
                    + "; work with them through LokrNetwork.of(net), or merge() them first");
        }
        Map<String, org.deeplearning4j.nn.conf.layers.Layer> replacements = new LinkedHashMap<>();
        for (Layer l : layers) {
            String name = Networks.name(l);
            org.deeplearning4j.nn.conf.layers.Layer conf = Networks.conf(l);
            if (!targets.matches(name, conf)) {
                continue;
            }
            String reason = LokrLayer.unsupportedReason(conf);
            if (reason != null) {
                throw new IllegalArgumentException("layer '" + name + "' (" + conf.getClass().getSimpleName()
                        + ") cannot take a LoKR adapter: " + reason);
            }
            replacements.put(name, new LokrLayer(conf.clone(), adapter));
        }
        if (replacements.isEmpty()) {
            throw new IllegalArgumentException(targets + " match no layer of the network; its layers are " + described);
        }
        N adapted = Networks.rebuild(net, replacements);
        for (Layer l : Networks.layers(adapted)) {
            if (l instanceof BaseLokrLayerImpl) {
                BaseLokrLayerImpl impl = (BaseLokrLayerImpl) l;
                LokrLayer c = impl.layerConf();
                LokrInit.initialize(impl.adapter(), LokrParamInitializer.pytorchWeight(c, impl.baseWeight()),
                        c.initSeed());
            }
        }
        LOG.debug("adapted {} with {} on {}", net.getClass().getSimpleName(), adapter, replacements.keySet());
        return adapted;
    }
}
