package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.conf.LokrPlan;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.Json;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import dev.lokr.dl4j.params.LokrParamInitializer;
import dev.lokr.math.LokrInit;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
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
     * network's outputs equal the original's. Layers that are not adapted keep training as configured;
     * see {@link #apply(LokrAdapter, MultiLayerNetwork, Targets, boolean)} to freeze them.
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
        return apply(adapter, net, targets, false);
    }

    /**
     * Adapts the targeted layers of a network, as {@link #apply(LokrAdapter, MultiLayerNetwork, Targets)},
     * and optionally freezes every other layer PEFT-style.
     *
     * <p>Frozen, a non-adapted layer with parameters keeps its type, but gets a zero-rate updater
     * ({@link Frozen#updater()}, an {@code Sgd} at a fixed rate of 0) for its weights and biases and loses its regularization (L1, L2, weight decay) and
     * constraints, so {@code fit} never changes its parameters (as PyTorch's {@code requires_grad = False}):
     * gradients still flow through it to earlier adapters, and, as in PyTorch, its dropout still applies in
     * training and a batch normalization layer still updates its running mean and variance. Output layers are
     * frozen too. Layers that are already {@link FrozenLayer} or {@link FrozenLayerWithBackprop} are left as they
     * are; inside another wrapper ({@code TimeDistributed}, {@code LastTimeStep}, {@code MaskZeroLayer}) the
     * wrapped layer is frozen and the wrapper kept. The frozen configuration stays in {@link LokrNetwork#merge()}'s
     * result; give those layers an updater again to train them later. Change learning rates with
     * {@link LokrNetwork#setLearningRate(double)}, which leaves them frozen: DL4J's {@code net.setLearningRate}
     * would give them the new rate, and leave the adapters at their old one.
     *
     * @param adapter      the adapter options (the same for every targeted layer)
     * @param net          an initialised network, FLOAT or DOUBLE
     * @param targets      which layers to adapt
     * @param freezeOthers true to freeze every non-adapted layer
     * @return the adapted network
     * @throws IllegalArgumentException as {@link #apply(LokrAdapter, MultiLayerNetwork, Targets)}, or, when
     *                                  freezing, if a non-adapted layer with parameters is not a {@link BaseLayer}
     *                                  nor a wrapper of one (naming it and its type; wrap it in
     *                                  {@link FrozenLayerWithBackprop} first)
     */
    public static LokrNetwork<MultiLayerNetwork> apply(LokrAdapter adapter, MultiLayerNetwork net, Targets targets,
                                                       boolean freezeOthers) {
        return LokrNetwork.wrap(adapt(adapter, Objects.requireNonNull(net, "net"), targets, freezeOthers));
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
        return apply(adapter, net, targets, false);
    }

    /**
     * Adapts the targeted layers of a graph and optionally freezes the others; see
     * {@link #apply(LokrAdapter, MultiLayerNetwork, Targets, boolean)}.
     *
     * @param adapter      the adapter options
     * @param net          an initialised graph, FLOAT or DOUBLE
     * @param targets      which layers (vertices) to adapt, by layer name or type
     * @param freezeOthers true to freeze every non-adapted layer
     * @return the adapted graph
     * @throws IllegalArgumentException as for the MultiLayerNetwork variant
     */
    public static LokrNetwork<ComputationGraph> apply(LokrAdapter adapter, ComputationGraph net, Targets targets,
                                                      boolean freezeOthers) {
        return LokrNetwork.wrap(adapt(adapter, Objects.requireNonNull(net, "net"), targets, freezeOthers));
    }

    /**
     * Loads an adapter file (LyCORIS or PEFT layout, for example one trained in Python) into a network: each
     * module of the file is matched to the layer of the same name, comparing names with {@code '.'} as
     * {@code '_'} and without the LyCORIS prefix ({@code lycoris_blocks_0_attn_q} and the PEFT module
     * {@code blocks.0.attn.q} both match a layer named {@code blocks_0_attn_q} or {@code blocks.0.attn.q}).
     * Each matched layer gets an adapter with the file's own layout (factorization, ranks, modes, scale,
     * DoRA) and tensors, so the result computes what the reference computes with the adapter at multiplier 1.
     * A PEFT file's saved modules ({@code modules_to_save}, such as a classification head trained in full) go
     * into their plain dense and output layers, as PEFT's model uses them ({@link #planSavedModules}); saved
     * modules of other layers are warned about. Other layers keep training as configured. The network is not
     * modified.
     *
     * @param net  an initialised network, FLOAT or DOUBLE, whose weights the adapter was trained on
     * @param file an open adapter file
     * @return the adapted network
     * @throws IllegalArgumentException if a module matches no layer (naming the module and the layers) or
     *                                  several, if two modules match one layer (such as SDXL's
     *                                  {@code lora_te1_x} and {@code lora_te2_x}: pass the layer-to-module map),
     *                                  if a matched layer is not supported, if a saved module does not fit its layer,
     *                                  or as for {@link #apply(LokrAdapter, MultiLayerNetwork, Targets)}
     * @throws dev.lokr.io.AdapterFormatException if a module's tensors do not fit its layer's weight
     * @throws IOException                        if reading the file fails
     */
    public static LokrNetwork<MultiLayerNetwork> apply(MultiLayerNetwork net, AdapterFile file) throws IOException {
        Objects.requireNonNull(net, "net");
        return apply(LokrAdapter.builder().build(), net, file, matchModules(net, file), false);
    }

    /**
     * Loads an adapter file into a graph; see {@link #apply(MultiLayerNetwork, AdapterFile)}.
     *
     * @param net  an initialised graph, FLOAT or DOUBLE
     * @param file an open adapter file
     * @return the adapted graph
     * @throws IllegalArgumentException as for the MultiLayerNetwork variant
     * @throws IOException              if reading the file fails
     */
    public static LokrNetwork<ComputationGraph> apply(ComputationGraph net, AdapterFile file) throws IOException {
        Objects.requireNonNull(net, "net");
        return apply(LokrAdapter.builder().build(), net, file, matchModules(net, file), false);
    }

    /**
     * Loads chosen modules of an adapter file into chosen layers. Each layer named in {@code modules} gets an
     * adapter with its module's own layout and tensors ({@link AdapterFile#resolve}); the runtime options
     * (multiplier, rank and module dropout, their seed) come from {@code runtime}, whose shape options (rank,
     * alpha, factor, decomposition, Tucker, scalar, DoRA) are ignored. A PEFT file's saved modules go into
     * their plain dense and output layers, as for {@link #apply(MultiLayerNetwork, AdapterFile)}, and those
     * layers stay trainable, as PEFT trains its {@code modules_to_save}. The network is not modified.
     *
     * @param runtime      runtime options for the adapters
     * @param net          an initialised network, FLOAT or DOUBLE
     * @param file         an open adapter file
     * @param modules      layer name to the module of {@code file} to load into it ({@link AdapterFile#modules()}),
     *                     at least one
     * @param freezeOthers true to freeze the layers that get no module and no saved module (see
     *                     {@link #apply(LokrAdapter, MultiLayerNetwork, Targets, boolean)})
     * @return the adapted network
     * @throws IllegalArgumentException if a layer or module does not exist, a saved module does not fit its
     *                                  layer, or as for {@link #apply(LokrAdapter, MultiLayerNetwork, Targets)}
     * @throws dev.lokr.io.AdapterFormatException if a module's tensors do not fit its layer's weight
     * @throws IOException                        if reading the file fails
     */
    public static LokrNetwork<MultiLayerNetwork> apply(LokrAdapter runtime, MultiLayerNetwork net, AdapterFile file,
                                                       Map<String, String> modules, boolean freezeOthers)
            throws IOException {
        return LokrNetwork.wrap(adaptFromFile(runtime, Objects.requireNonNull(net, "net"), file, modules, freezeOthers));
    }

    /**
     * Loads chosen modules of an adapter file into chosen layers of a graph; see
     * {@link #apply(LokrAdapter, MultiLayerNetwork, AdapterFile, Map, boolean)}.
     *
     * @param runtime      runtime options for the adapters
     * @param net          an initialised graph, FLOAT or DOUBLE
     * @param file         an open adapter file
     * @param modules      layer name to module, at least one
     * @param freezeOthers true to freeze the layers that get no module
     * @return the adapted graph
     * @throws IllegalArgumentException as for the MultiLayerNetwork variant
     * @throws IOException              if reading the file fails
     */
    public static LokrNetwork<ComputationGraph> apply(LokrAdapter runtime, ComputationGraph net, AdapterFile file,
                                                      Map<String, String> modules, boolean freezeOthers)
            throws IOException {
        return LokrNetwork.wrap(adaptFromFile(runtime, Objects.requireNonNull(net, "net"), file, modules, freezeOthers));
    }

    /**
     * The layer of a network that each module of a file belongs to (see {@link #apply(MultiLayerNetwork, AdapterFile)}).
     *
     * @param net  an initialised network or graph
     * @param file an open adapter file
     * @return layer name to module name, in file order
     * @throws IllegalArgumentException if a module matches no layer or more than one, or two modules match the
     *                                  same layer (such as {@code lora_te1_x} and {@code lora_te2_x})
     */
    static Map<String, String> matchModules(Model net, AdapterFile file) {
        Objects.requireNonNull(file, "file");
        Map<String, List<Layer>> byKey = layersByKey(net);
        Map<String, String> out = new LinkedHashMap<>();
        List<String> unmatched = new ArrayList<>();
        for (String module : file.modules()) {
            List<Layer> hits = byKey.get(moduleKey(file, module));
            if (hits == null) {
                unmatched.add(module);
            } else if (hits.size() > 1) {
                throw new IllegalArgumentException("module " + Json.printable(module) + " matches several layers "
                        + hits.stream().map(l -> Json.printable(Networks.name(l))).toList()
                        + "; pass the layer-to-module map explicitly");
            } else {
                String layer = Networks.name(hits.get(0));
                String before = out.putIfAbsent(layer, module);
                if (before != null) {
                    throw new IllegalArgumentException("modules " + Json.printable(before) + " and "
                            + Json.printable(module) + " both match layer " + Json.printable(layer)
                            + " (names compared with '.' as '_' and without the LyCORIS prefix); pass the "
                            + "layer-to-module map explicitly");
                }
            }
        }
        if (!unmatched.isEmpty()) {
            throw new IllegalArgumentException("module(s) " + unmatched + " of " + file.path()
                    + " match no layer (names compared with '.' as '_' and without the LyCORIS prefix); the layers are "
                    + new ArrayList<>(byKey.keySet()) + "; pass the layer-to-module map explicitly");
        }
        return out;
    }

    /**
     * The layers of {@code net} for which a PEFT file saves whole modules ({@code modules_to_save}, such as a
     * classification head trained in full, and saved embeddings): see {@link #savedByLayer}. Loading an adapter
     * copies them into plain dense and output layers ({@link #planSavedModules}) and warns about the others.
     *
     * @param net  an initialised network or graph
     * @param file an open adapter file
     * @return their layer names, in the network's order; empty for a LyCORIS file
     * @throws IllegalArgumentException if a saved tensor matches several layers
     */
    static List<String> layersWithSavedModules(Model net, AdapterFile file) {
        Map<Layer, Map<String, String>> byLayer = savedByLayer(net, file, new ArrayList<>());
        return Networks.layers(net).stream().filter(byLayer::containsKey).map(Networks::name).toList();
    }

    /**
     * A PEFT file's saved module tensors ({@link AdapterFile#savedModuleTensors}) by the layer of {@code net}
     * each belongs to: a tensor {@code base_model.model.<path>.<parameter>} goes to the layer named exactly
     * {@code <path>}, else to the only layer whose name matches with {@code '.'} as {@code '_'}, as modules are
     * matched.
     *
     * @param net       an initialised network or graph
     * @param file      an open adapter file
     * @param unmatched receives the tensors that name no layer
     * @return layer to parameter name ({@code weight}, {@code bias}, ...) to tensor, in file order
     * @throws IllegalArgumentException if a tensor matches several layers
     */
    private static Map<Layer, Map<String, String>> savedByLayer(Model net, AdapterFile file, List<String> unmatched) {
        Map<String, List<Layer>> byKey = layersByKey(net);
        Map<Layer, Map<String, String>> saved = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : file.savedModuleTensors().entrySet()) {
            String t = e.getKey();
            int dot = e.getValue().lastIndexOf('.');
            if (dot <= 0) {
                continue;
            }
            String path = e.getValue().substring(0, dot);
            List<Layer> hits = byKey.getOrDefault(path.replace('.', '_'), List.of());
            // the layer named exactly like the path, else the only one that matches with '.' as '_'
            List<Layer> exact = hits.stream().filter(l -> path.equals(Networks.name(l))).toList();
            List<Layer> chosen = exact.isEmpty() ? hits : exact;
            if (chosen.isEmpty()) {
                unmatched.add(t);
            } else if (chosen.size() > 1) {
                throw new IllegalArgumentException("saved tensor " + Json.printable(t) + " matches several layers "
                        + chosen.stream().map(l -> Json.printable(Networks.name(l))).toList()
                        + " (names compared with '.' as '_'); rename one of them");
            } else {
                saved.computeIfAbsent(chosen.get(0), k -> new LinkedHashMap<>()).put(e.getValue().substring(dot + 1), t);
            }
        }
        return saved;
    }

    /** One parameter ({@code W} or {@code b}) of one layer and the saved values it takes, in its shape. */
    record SavedParam(String layer, String key, String tensor, INDArray values) {
    }

    /**
     * What {@link #planSavedModules} found: the copies to make, the layers whose saved modules lokr does not
     * copy, and the saved tensors whose path names no layer.
     */
    record SavedPlan(List<SavedParam> copies, List<String> left, List<String> unmatched) {

        /** @return the layers that take a copy */
        Set<String> layers() {
            Set<String> out = new java.util.LinkedHashSet<>();
            copies.forEach(c -> out.add(c.layer()));
            return out;
        }
    }

    /**
     * Plans the copy of a PEFT file's saved modules ({@link #layersWithSavedModules}) into the network's plain
     * dense and output layers, as PEFT's model uses them: {@code <path>.weight [out, in]} (PyTorch's
     * {@code Linear}) becomes the layer's {@code W [nIn, nOut]} transposed, {@code <path>.bias [out]} its
     * {@code b}, converted to the network's data type. Every shape and value is checked here, before anything
     * changes. Layers of other kinds (convolution, embedding, batch norm, a dense layer with layer norm, adapted
     * or wrapped layers), and saved parameters other than {@code weight} and {@code bias}, are left for
     * {@link #copySaved} to warn about, as are saved tensors whose path names no layer.
     *
     * @param net     the network (the one to adapt, or an adapted one: layer names are what counts)
     * @param file    an open adapter file
     * @param adapted names of layers that get a LoKR module from the file; like layers that already have one,
     *                they take no copy
     * @return the plan; empty for a LyCORIS file
     * @throws IllegalArgumentException if a saved tensor does not fit its layer (naming the layer, the tensor and
     *                                  both shapes), holds NaN, an infinity or a value beyond the network's data
     *                                  type, has a dtype lokr does not read, or a layer with a bias gets a weight
     *                                  without one (or the other way round)
     * @throws IOException              if reading the file fails
     */
    static SavedPlan planSavedModules(Model net, AdapterFile file, Set<String> adapted) throws IOException {
        List<SavedParam> copies = new ArrayList<>();
        List<String> left = new ArrayList<>();
        List<String> unmatched = new ArrayList<>();
        DataType type = Networks.dataType(net);
        for (Map.Entry<Layer, Map<String, String>> s : savedByLayer(net, file, unmatched).entrySet()) {
            Layer l = s.getKey();
            String name = Networks.name(l);
            org.deeplearning4j.nn.conf.layers.Layer conf = Networks.conf(net, l);
            boolean plainDense = (conf instanceof org.deeplearning4j.nn.conf.layers.DenseLayer
                    && !((org.deeplearning4j.nn.conf.layers.DenseLayer) conf).hasLayerNorm()
                    || conf instanceof org.deeplearning4j.nn.conf.layers.OutputLayer)
                    && Networks.lokrLayer(l) == null && !adapted.contains(name)
                    && !(l instanceof org.deeplearning4j.nn.layers.wrapper.BaseWrapperLayer)
                    && Set.of("weight", "bias").containsAll(s.getValue().keySet());
            if (!plainDense) {
                left.add(name);
                continue;
            }
            boolean hasBias = l.getParam("b") != null;
            if (!s.getValue().containsKey("weight") || s.getValue().containsKey("bias") != hasBias) {
                throw new IllegalArgumentException("the adapter saves " + s.getValue().keySet() + " for layer "
                        + Json.printable(name) + ", which has " + (hasBias ? "[weight, bias]" : "[weight] (no bias)")
                        + ": PyTorch's module and the DL4J layer differ; build the layer as PyTorch's was (hasBias)");
            }
            for (Map.Entry<String, String> e : s.getValue().entrySet()) {
                boolean weight = e.getKey().equals("weight");
                String key = weight ? "W" : "b";
                INDArray param = l.getParam(key);
                INDArray values;
                try {
                    values = file.readOtherTensor(e.getValue(), type);
                } catch (UnsupportedOperationException ex) {
                    throw new IllegalArgumentException("saved tensor " + Json.printable(e.getValue()) + " for layer "
                            + Json.printable(name) + ": " + ex.getMessage(), ex);
                }
                long[] want = weight ? new long[] {param.size(1), param.size(0)} : new long[] {param.length()};
                if (!java.util.Arrays.equals(want, values.shape())) {
                    throw new IllegalArgumentException("saved tensor " + Json.printable(e.getValue()) + " "
                            + java.util.Arrays.toString(values.shape()) + " does not fit layer " + Json.printable(name)
                            + " (" + key + " " + java.util.Arrays.toString(param.shape()) + ", so "
                            + java.util.Arrays.toString(want) + " in PyTorch's layout)");
                }
                if (Networks.hasNonFinite(values)) {
                    throw new IllegalArgumentException("saved tensor " + Json.printable(e.getValue()) + " for layer "
                            + Json.printable(name) + " holds NaN, an infinity, or a value beyond " + type);
                }
                copies.add(new SavedParam(name, key, e.getValue(),
                        weight ? values.transpose() : values.reshape(param.shape())));
            }
        }
        return new SavedPlan(copies, left, unmatched);
    }

    /**
     * Makes the copies of a {@link #planSavedModules plan} into {@code net}'s layers of those names, and warns
     * about the saved modules it leaves: those of layers lokr does not copy into, and those that name no layer.
     */
    static void copySaved(Model net, SavedPlan plan) {
        Map<String, Layer> byName = new LinkedHashMap<>();
        for (Layer l : Networks.layers(net)) {
            byName.put(Networks.name(l), l);
        }
        for (SavedParam p : plan.copies()) {
            byName.get(p.layer()).getParam(p.key()).assign(p.values());
        }
        if (!plan.copies().isEmpty()) {
            LOG.debug("copied {} saved tensor(s) into layer(s) {}", plan.copies().size(), plan.layers());
        }
        if (!plan.left().isEmpty()) {
            LOG.warn("the adapter saves whole modules (PEFT modules_to_save or saved embeddings) for layer(s) {},"
                    + " which lokr copies only into plain dense and output layers (weight and bias); they keep the"
                    + " network's own weights, not the trained ones: copy those tensors yourself, or merge the file"
                    + " into the base with lokr merge", plan.left().stream().map(Json::printable).toList());
        }
        if (!plan.unmatched().isEmpty()) {
            LOG.warn("{} saved tensor(s) of the adapter name no layer of the network (first: {}); they are not"
                    + " loaded: name the layer like the PyTorch module path to load a saved module",
                    plan.unmatched().size(), Json.printable(plan.unmatched().get(0)));
        }
    }

    /**
     * The network's layers by the key files are matched against: the name with {@code '.'} as {@code '_'}
     * ({@code ""} for a layer without a name), in the network's order.
     */
    private static Map<String, List<Layer>> layersByKey(Model net) {
        Map<String, List<Layer>> byKey = new LinkedHashMap<>();
        for (Layer l : Networks.layers(net)) {
            String name = Networks.name(l);
            byKey.computeIfAbsent(name == null ? "" : name.replace('.', '_'), k -> new ArrayList<>()).add(l);
        }
        return byKey;
    }

    /** A module's name with '.' as '_' and without the LyCORIS prefix. */
    static String moduleKey(AdapterFile file, String module) {
        String m = module;
        if (file.format() == AdapterFile.Format.LYCORIS) {
            for (String p : AdapterFile.LYCORIS_PREFIXES) {
                if (m.startsWith(p)) {
                    m = m.substring(p.length());
                    break;
                }
            }
        }
        return m.replace('.', '_');
    }

    private static <N extends Model> N adaptFromFile(LokrAdapter runtime, N net, AdapterFile file,
                                                     Map<String, String> modules, boolean freezeOthers)
            throws IOException {
        Objects.requireNonNull(runtime, "runtime");
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(modules, "modules");
        if (modules.isEmpty()) {
            throw new IllegalArgumentException("modules must name at least one layer, got none");
        }
        DataType type = checkNetwork(net);
        Map<String, org.deeplearning4j.nn.conf.layers.Layer> confs = new LinkedHashMap<>();
        for (Layer l : Networks.layers(net)) {
            confs.put(Networks.name(l), Networks.conf(net, l));
        }
        Map<String, LokrLayer> replacements = new LinkedHashMap<>();
        Map<String, LokrParams> loaded = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : modules.entrySet()) {
            String name = e.getKey();
            org.deeplearning4j.nn.conf.layers.Layer conf = confs.get(name);
            if (conf == null) {
                throw new IllegalArgumentException("no layer named '" + name + "'; the layers are " + confs.keySet());
            }
            if (!file.modules().contains(e.getValue())) {
                throw new IllegalArgumentException("no module '" + e.getValue() + "' in " + file.path()
                        + "; its modules are " + file.modules());
            }
            String reason = LokrLayer.unsupportedReason(conf);
            if (reason != null) {
                throw new IllegalArgumentException("layer '" + name + "' (" + conf.getClass().getSimpleName()
                        + ") cannot take a LoKR adapter: " + reason);
            }
            LokrLayer layer = new LokrLayer(conf.clone(), runtime);
            LokrParams params = file.resolve(e.getValue(), layer.weightShape(), type);
            layer.setPlan(LokrPlan.of(params.layout()));
            replacements.put(name, layer);
            loaded.put(name, params);
        }
        // every saved module checked before the rebuild
        SavedPlan saved = planSavedModules(net, file, modules.keySet());
        warnAboutBaseConstraints(replacements);
        N adapted = adapt(net, replacements, freezeOthers, saved.layers());
        for (Layer l : Networks.layers(adapted)) {
            LokrParams given = loaded.get(Networks.name(l));
            BaseLokrLayerImpl impl = given == null ? null : Networks.lokrLayer(l);
            if (impl != null) {
                LokrParams ours = impl.adapter();
                for (LokrParam p : ours.layout().params()) {
                    ours.get(p).assign(given.get(p).castTo(type));
                }
            }
        }
        LOG.debug("loaded {} module(s) of {} into {}", modules.size(), file.path(), modules.keySet());
        copySaved(adapted, saved);
        return adapted;
    }

    private static DataType checkNetwork(Model net) {
        List<Layer> layers = Networks.layers(net);
        DataType type = Networks.dataType(net);
        if (type != DataType.FLOAT && type != DataType.DOUBLE) {
            throw new IllegalArgumentException("LoKR needs a FLOAT or DOUBLE network, got " + type);
        }
        List<String> already = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (Layer l : layers) {
            String name = Networks.name(l);
            if (name == null || !names.add(name)) {
                throw new IllegalArgumentException("layer names must be unique and set, got '" + name
                        + "' more than once (or unset); name the layers to adapt the network");
            }
            if (Networks.lokrLayer(l) != null) {
                already.add(name);
            }
        }
        if (!already.isEmpty()) {
            throw new IllegalArgumentException("the network already has LoKR adapters on " + already
                    + "; work with them through LokrNetwork.of(net), or merge() them first");
        }
        return type;
    }

    private static <N extends Model> N adapt(LokrAdapter adapter, N net, Targets targets, boolean freezeOthers) {
        Objects.requireNonNull(adapter, "adapter");
        Objects.requireNonNull(targets, "targets");
        checkNetwork(net);
        List<String> described = new ArrayList<>();
        Map<String, LokrLayer> replacements = new LinkedHashMap<>();
        for (Layer l : Networks.layers(net)) {
            String name = Networks.name(l);
            org.deeplearning4j.nn.conf.layers.Layer conf = Networks.conf(net, l);
            described.add(name + " (" + conf.getClass().getSimpleName() + ")");
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
        warnAboutBaseConstraints(replacements);
        N adapted = adapt(net, replacements, freezeOthers, Set.of());
        LOG.debug("adapted {} with {} on {}", net.getClass().getSimpleName(), adapter, replacements.keySet());
        return adapted;
    }

    /**
     * Constraints of an adapted layer's base were meant for its {@code W} and {@code b}, which LoKR keeps frozen:
     * they do not constrain the adapter (its tensors have other shapes, and a DoRA magnitude or scalar gain
     * other meanings). Says so, naming the layers, rather than dropping them silently.
     *
     * @return the names of the layers with such constraints (for tests)
     */
    static List<String> warnAboutBaseConstraints(Map<String, LokrLayer> replacements) {
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, LokrLayer> e : replacements.entrySet()) {
            List<org.deeplearning4j.nn.api.layers.LayerConstraint> c = e.getValue().getBase().getConstraints();
            if (c != null && !c.isEmpty()) {
                names.add(e.getKey() + " " + c);
            }
        }
        if (!names.isEmpty()) {
            LOG.warn("the constraints of adapted layer(s) {} apply to their frozen W and b, which LoKR keeps fixed;"
                    + " they do not constrain the adapter tensors (set those with layerConf(name).setConstraints)",
                    names.stream().map(Json::printable).toList());
        }
        return names;
    }

    /** @return {@code TimeDistributed(LSTM)} for a wrapper, else the simple class name */
    private static String describe(org.deeplearning4j.nn.conf.layers.Layer conf) {
        if (conf instanceof BaseWrapperLayer) {
            org.deeplearning4j.nn.conf.layers.Layer inner = ((BaseWrapperLayer) conf).getUnderlying();
            return conf.getClass().getSimpleName() + "(" + (inner == null ? null : describe(inner)) + ")";
        }
        return conf.getClass().getSimpleName();
    }

    /**
     * A copy of {@code conf} whose parameters {@code fit} never changes, wrappers ({@code TimeDistributed},
     * {@code LastTimeStep}, {@code MaskZeroLayer}, nested) kept around the frozen innermost layer; null when
     * the innermost layer is no {@link BaseLayer}. For a layer no frozen wrapper already freezes.
     */
    private static org.deeplearning4j.nn.conf.layers.Layer frozenCopy(org.deeplearning4j.nn.conf.layers.Layer conf) {
        return Networks.mapInnermost(conf, c -> c instanceof BaseLayer ? frozen((BaseLayer) c.clone()) : null);
    }

    /** A layer configuration whose parameters never change in fit: zero-rate updaters, no regularization or constraints. */
    private static BaseLayer frozen(BaseLayer conf) {
        conf.setIUpdater(Frozen.updater());
        conf.setBiasUpdater(Frozen.updater());
        conf.setRegularization(new ArrayList<>());
        conf.setRegularizationBias(new ArrayList<>());
        conf.setConstraints(null);
        return conf;
    }

    /**
     * Rebuilds {@code net} with the LoKR layers, freezing the others when asked except those in {@code keep},
     * then initialises every adapter.
     */
    private static <N extends Model> N adapt(N net, Map<String, LokrLayer> lokr, boolean freezeOthers,
                                             Set<String> keep) {
        Map<String, org.deeplearning4j.nn.conf.layers.Layer> replacements = new LinkedHashMap<>(lokr);
        if (freezeOthers) {
            for (Layer l : Networks.layers(net)) {
                String name = Networks.name(l);
                org.deeplearning4j.nn.conf.layers.Layer conf = Networks.conf(net, l);
                if (lokr.containsKey(name) || keep.contains(name) || l.numParams() == 0
                        || Frozen.isFrozenLayer(Frozen.trainingLayer(conf))) {
                    continue;   // adapted, nothing to train, or a frozen wrapper already freezes it
                }
                org.deeplearning4j.nn.conf.layers.Layer copy = frozenCopy(conf);
                if (copy == null) {
                    throw new IllegalArgumentException("layer '" + name + "' (" + describe(conf)
                            + ") cannot be frozen: only BaseLayer configurations have an updater to freeze; wrap it in "
                            + "FrozenLayerWithBackprop first, or target it");
                }
                replacements.put(name, copy);
            }
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
        return adapted;
    }
}
