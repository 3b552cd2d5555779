package dev.lokr.dl4j;

import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.Json;
import dev.lokr.io.LycorisWriter;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.schedule.ISchedule;

import java.io.IOException;
import java.nio.file.Path;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * A DL4J network ({@link MultiLayerNetwork} or {@link ComputationGraph}) with LoKR-adapted layers, and the
 * operations on its adapters: snapshots and loads of the adapter tensors, the multiplier, switching the
 * adapters off, merging, and a report.
 *
 * <p>Make one with {@link LokrNetworks#apply}, or wrap a network that already has adapter layers (for
 * example one restored with {@code ModelSerializer}) with {@link #of(MultiLayerNetwork)} or
 * {@link #of(ComputationGraph)}. The network itself ({@link #network()}) is a plain DL4J network: train it
 * with {@code fit}, evaluate it, save it with {@code ModelSerializer}. Only the adapter tensors train;
 * the adapted layers' {@code W} and {@code b} are frozen. Layers that were not adapted keep their own
 * configuration (and train as configured, unless {@link LokrNetworks#apply(dev.lokr.LokrAdapter, MultiLayerNetwork,
 * Targets, boolean)} froze them).
 *
 * <p>Adapters go to and from files with {@link #saveAdapter(Path)} and {@link #loadAdapter(Path)} (LyCORIS
 * layout; PEFT files load too); an adapter trained in Python with any options loads onto a base network with
 * {@link LokrNetworks#apply(MultiLayerNetwork, AdapterFile)}.
 *
 * <p>Adapter tensors are keyed by DL4J layer name; their layouts follow the PyTorch-layout weight
 * ({@code [out, in]}, {@code [out, in, kh, kw]}), so they map one to one onto LyCORIS / PEFT modules named
 * {@link #moduleName(String)}.
 *
 * @param <N> {@link MultiLayerNetwork} or {@link ComputationGraph}
 */
public final class LokrNetwork<N extends Model> {

    /** The prefix of LyCORIS module names. */
    public static final String MODULE_PREFIX = "lycoris_";

    private final N network;

    private LokrNetwork(N network) {
        this.network = network;
        shareWrappedConfigurations();
        if (impls().isEmpty()) {
            List<String> names = new ArrayList<>();
            for (Layer l : Networks.layers(network)) {
                names.add(Networks.name(l) + " (" + Networks.conf(network, l).getClass().getSimpleName() + ")");
            }
            throw new IllegalArgumentException("the network has no LoKR layer; its layers are " + names
                    + "; use LokrNetworks.apply to add adapters");
        }
    }

    /**
     * Wraps a network that has LoKR layers (for example one restored with {@code ModelSerializer}).
     *
     * @param net an initialised network
     * @return the wrapper (sharing the network)
     * @throws IllegalArgumentException if the network has no LoKR layer or is not initialised
     */
    public static LokrNetwork<MultiLayerNetwork> of(MultiLayerNetwork net) {
        return new LokrNetwork<>(Objects.requireNonNull(net, "net"));
    }

    /**
     * Wraps a graph that has LoKR layers (for example one restored with {@code ModelSerializer}).
     *
     * @param net an initialised graph
     * @return the wrapper (sharing the graph)
     * @throws IllegalArgumentException if the graph has no LoKR layer or is not initialised
     */
    public static LokrNetwork<ComputationGraph> of(ComputationGraph net) {
        return new LokrNetwork<>(Objects.requireNonNull(net, "net"));
    }

    static <M extends Model> LokrNetwork<M> wrap(M net) {
        return new LokrNetwork<>(net);
    }

    /** @return the adapted network (live: training it trains the adapters) */
    public N network() {
        return network;
    }

    /**
     * Points each wrapped adapter's runtime layer at the {@link LokrLayer} that the network's configuration
     * holds. DL4J's {@code TransferLearning.Builder} gives a layer it wraps in a {@code FrozenLayer} a copy of
     * its configuration, so a multiplier set on the copy was lost by {@code ModelSerializer} and
     * {@code clone()}. The two are equal when the network is built; from here on they are one.
     */
    private void shareWrappedConfigurations() {
        for (Layer l : Networks.layers(network)) {
            BaseLokrLayerImpl impl = Networks.lokrLayer(l);
            if (impl == null || impl == l) {
                continue;
            }
            org.deeplearning4j.nn.conf.layers.Layer held = Networks.innermost(Networks.conf(network, l));
            if (held instanceof LokrLayer && held != impl.layerConf()) {
                impl.conf().setLayer(held);
            }
        }
    }

    /** The adapted runtime layers by name, in network order, those inside wrappers included. */
    private Map<String, BaseLokrLayerImpl> impls() {
        Map<String, BaseLokrLayerImpl> m = new LinkedHashMap<>();
        for (Layer l : Networks.layers(network)) {
            BaseLokrLayerImpl impl = Networks.lokrLayer(l);
            if (impl != null) {
                m.put(Networks.name(l), impl);
            }
        }
        return m;
    }

    private BaseLokrLayerImpl impl(String layerName) {
        BaseLokrLayerImpl l = impls().get(layerName);
        if (l == null) {
            throw new IllegalArgumentException("no LoKR layer named '" + layerName + "'; the adapted layers are "
                    + adaptedLayers());
        }
        return l;
    }

    /** @return the names of the adapted layers, in network order */
    public List<String> adaptedLayers() {
        return Collections.unmodifiableList(new ArrayList<>(impls().keySet()));
    }

    /**
     * @param layerName an adapted layer
     * @return its configuration (live: setting its multiplier or enabled flag takes effect on the next pass)
     * @throws IllegalArgumentException if there is no such adapted layer
     */
    public LokrLayer layerConf(String layerName) {
        return impl(layerName).layerConf();
    }

    /** @return the layout of every adapted layer, by layer name, in network order */
    public Map<String, LokrLayout> layouts() {
        Map<String, LokrLayout> m = new LinkedHashMap<>();
        impls().forEach((name, l) -> m.put(name, l.adapter().layout()));
        return Collections.unmodifiableMap(m);
    }

    /**
     * A snapshot of the adapter tensors: deep copies, keyed by layer name, in network order. Tensors are in
     * the core's PyTorch-layout terms (no transposition is needed for files).
     *
     * @return layer name to its adapter tensors (copies)
     */
    public Map<String, LokrParams> adapterParams() {
        Map<String, LokrParams> m = new LinkedHashMap<>();
        impls().forEach((name, l) -> m.put(name, l.adapter().copy()));
        return Collections.unmodifiableMap(m);
    }

    /**
     * Loads adapter tensors into every adapted layer (for example a snapshot from {@link #adapterParams()},
     * or tensors read from an adapter file). Every adapted layer must be given, each with the layer's
     * tensors and shapes; values are converted to the network's data type. When a layout's scale differs
     * from the layer's, the layer adopts the given scale (the adapter defines its own scale). Nothing is
     * changed unless everything checks.
     *
     * @param params layer name to adapter tensors
     * @throws IllegalArgumentException naming the layer, the tensor and both shapes on any mismatch, naming
     *                                  the unknown or missing layers, or naming a tensor that holds NaN or an
     *                                  infinity, or a value beyond the range of the network's data type
     */
    public void loadAdapterParams(Map<String, LokrParams> params) {
        Objects.requireNonNull(params, "params");
        if (params.containsKey(null)) {
            throw new IllegalArgumentException("params has a null layer name");
        }
        Map<String, BaseLokrLayerImpl> impls = impls();
        TreeSet<String> unknown = new TreeSet<>(params.keySet());
        unknown.removeAll(impls.keySet());
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("no LoKR layer named " + unknown + "; the adapted layers are "
                    + impls.keySet());
        }
        TreeSet<String> missing = new TreeSet<>(impls.keySet());
        missing.removeAll(params.keySet());
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("no adapter given for layer(s) " + missing
                    + "; loadAdapterParams needs every adapted layer: " + impls.keySet());
        }
        for (Map.Entry<String, BaseLokrLayerImpl> e : impls.entrySet()) {
            checkCompatible(e.getKey(), e.getValue().adapter(), params.get(e.getKey()));
        }
        for (Map.Entry<String, BaseLokrLayerImpl> e : impls.entrySet()) {
            BaseLokrLayerImpl l = e.getValue();
            LokrParams given = params.get(e.getKey());
            if (Double.compare(given.layout().scale(), l.adapter().layout().scale()) != 0) {
                l.setAdapterScale(given.layout().scale());
            }
            LokrParams ours = l.adapter();
            DataType type = ours.dataType();
            for (LokrParam p : ours.layout().params()) {
                ours.get(p).assign(given.get(p).castTo(type));
            }
        }
    }

    /**
     * Saves the adapters as a LyCORIS-layout safetensors file ({@link LycorisWriter}): one module per adapted
     * layer, named {@link #moduleName(String)} of the layer name, in the adapters' precision. A learned scalar
     * gain is folded into {@code w1}, as LyCORIS stores it. The file loads back with {@link #loadAdapter(Path)},
     * with {@link LokrNetworks#apply(MultiLayerNetwork, AdapterFile)}, or in LyCORIS onto a PyTorch module whose
     * paths are the layer names.
     *
     * <p>A 1-D convolution's adapter (DL4J weight {@code [out, in, k, 1]}) is written in PyTorch's
     * {@code Conv1d} form, as LyCORIS writes one ({@code lokr_w2 [b, d, k]}, {@code lokr_t2 [r, r, k]}).
     *
     * @param path the file to create or replace
     * @throws IOException if writing fails
     */
    public void saveAdapter(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        Set<String> conv1d = new TreeSet<>();
        for (Map.Entry<String, BaseLokrLayerImpl> e : impls().entrySet()) {
            if (e.getValue().layerConf().getBase() instanceof Convolution1DLayer) {
                conv1d.add(e.getKey());
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("lokr.source", "lokr-dl4j");
        LycorisWriter.save(path, adapterParams(), meta, null, conv1d);
    }

    /**
     * Loads an adapter file (LyCORIS or PEFT layout) into the adapted layers: each adapted layer takes the
     * module whose name matches it ({@code lycoris_} + the name with {@code '.'} as {@code '_'}, or the PEFT
     * path equal to the name up to {@code '.'}/{@code '_'}). The file's tensors must have the layer's layout;
     * the file's scale is adopted, and a scalar gain that the layer has but the file folded into {@code w1}
     * is set to 1. Modules of the file that match no adapted layer are ignored. A PEFT file's saved modules
     * ({@code modules_to_save}) go into their plain dense and output layers, as
     * {@link LokrNetworks#apply(MultiLayerNetwork, AdapterFile)} puts them; those layers keep their updater
     * state (moments, iteration count), as the adapters do, and a layer frozen before stays frozen. To load a file whose layout differs from the network's adapters (for example one trained
     * in Python with other options), use {@link LokrNetworks#apply(MultiLayerNetwork, AdapterFile)} on the
     * base network instead. Nothing is changed unless every layer checks.
     *
     * @param path an adapter file
     * @throws IllegalArgumentException if a layer has no module or several (such as SDXL's {@code lora_te1_x}
     *                                  and {@code lora_te2_x} for layer {@code x}), a module matches several
     *                                  adapted layers (such as layers {@code a.b} and {@code a_b}), a module's tensors do not match the layer's
     *                                  layout (naming the layer, the tensor and both shapes), or a saved module
     *                                  does not fit its layer
     * @throws dev.lokr.io.AdapterFormatException if a module's tensors do not fit the layer's weight at all
     * @throws IOException              if reading fails
     */
    public void loadAdapter(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        try (AdapterFile file = AdapterFile.read(path)) {
            Map<String, List<String>> byKey = new LinkedHashMap<>();
            for (String m : file.modules()) {
                byKey.computeIfAbsent(LokrNetworks.moduleKey(file, m), k -> new ArrayList<>()).add(m);
            }
            Map<String, List<String>> layersByModule = new LinkedHashMap<>();
            Map<String, LokrParams> params = new LinkedHashMap<>();
            for (Map.Entry<String, BaseLokrLayerImpl> e : impls().entrySet()) {
                List<String> modules = byKey.get(e.getKey().replace('.', '_'));
                if (modules == null) {
                    throw new IllegalArgumentException("layer '" + e.getKey() + "' has no module in " + path
                            + " (expected " + moduleName(e.getKey()) + "); its modules are " + file.modules());
                }
                if (modules.size() > 1) {
                    throw new IllegalArgumentException("modules " + modules.stream().map(Json::printable).toList()
                            + " of " + path + " all match layer '" + e.getKey() + "' (names compared with '.' as"
                            + " '_' and without the LyCORIS prefix); apply the file to the base network with an"
                            + " explicit layer-to-module map instead");
                }
                String module = modules.get(0);
                layersByModule.computeIfAbsent(module, k -> new ArrayList<>()).add(e.getKey());
                LokrParams ours = e.getValue().adapter();
                LokrParams given = file.resolve(module, ours.layout().weightShape(), ours.dataType());
                params.put(e.getKey(), withScalar(given, ours.layout()));
            }
            for (Map.Entry<String, List<String>> e : layersByModule.entrySet()) {
                if (e.getValue().size() > 1) {
                    throw new IllegalArgumentException("module " + Json.printable(e.getKey()) + " of " + path
                            + " matches several layers " + e.getValue().stream().map(l -> "'" + l + "'").toList()
                            + " (names compared with '.' as '_' and without the LyCORIS prefix); apply the file to"
                            + " the base network with an explicit layer-to-module map instead");
                }
            }
            LokrNetworks.SavedPlan saved = LokrNetworks.planSavedModules(network, file, java.util.Set.of());
            loadAdapterParams(params);
            LokrNetworks.copySaved(network, saved);
        }
    }

    /** Adds a unit scalar to file tensors (which never store it) when the layer's layout has one. */
    private static LokrParams withScalar(LokrParams given, LokrLayout ours) {
        LokrLayout g = given.layout();
        if (!ours.scalar() || g.scalar()) {
            return given;
        }
        LokrLayout layout = LokrLayout.explicit(g.weightShape(), g.a(), g.b(), g.c(), g.d(), g.rank(), g.w1Mode(),
                g.w2Mode(), g.scale(), true, g.doraAxis(), g.detachNorm());
        Map<LokrParam, INDArray> arrays = new EnumMap<>(LokrParam.class);
        arrays.putAll(given.asMap());
        arrays.put(LokrParam.SCALAR, Nd4j.ones(given.dataType(), 1));
        return LokrParams.of(layout, arrays);
    }

    private static void checkCompatible(String layer, LokrParams adapter, LokrParams given) {
        LokrLayout ours = adapter.layout();
        if (given == null) {
            throw new IllegalArgumentException("layer '" + layer + "': adapter tensors are null");
        }
        LokrLayout theirs = given.layout();
        if (!ours.params().equals(theirs.params())) {
            throw new IllegalArgumentException("layer '" + layer + "': adapter has tensors " + keys(theirs.params())
                    + " but the layer has " + keys(ours.params()) + " (layer " + ours + ", given " + theirs + ")");
        }
        for (LokrParam p : ours.params()) {
            long[] want = ours.shapeOf(p);
            long[] got = given.get(p).shape();
            if (!Arrays.equals(want, got)) {
                throw new IllegalArgumentException("layer '" + layer + "': " + p.key() + " must be "
                        + Arrays.toString(want) + ", got " + Arrays.toString(got));
            }
            if (Networks.hasNonFinite(given.get(p))) {
                throw new IllegalArgumentException("layer '" + layer + "': " + p.key()
                        + " holds NaN or an infinity; adapter tensors must be finite");
            }
            if (given.get(p).dataType() != adapter.dataType()
                    && Networks.hasNonFinite(given.get(p).castTo(adapter.dataType()))) {
                throw new IllegalArgumentException("layer '" + layer + "': " + p.key() + " holds a value beyond the"
                        + " range of the network's " + adapter.dataType() + " (largest magnitude "
                        + given.get(p).amaxNumber() + "); adapter tensors must be finite in it");
            }
        }
        if (adapter.dataType() == DataType.FLOAT && Math.abs(theirs.scale()) > Float.MAX_VALUE) {
            throw new IllegalArgumentException("layer '" + layer + "': scale " + theirs.scale() + " is beyond the"
                    + " range of the network's FLOAT (" + Float.MAX_VALUE + ")");
        }
        if (ours.doraAxis() != theirs.doraAxis()) {
            throw new IllegalArgumentException("layer '" + layer + "': DoRA axis must be " + ours.doraAxis()
                    + ", got " + theirs.doraAxis());
        }
    }

    private static List<String> keys(List<LokrParam> ps) {
        List<String> k = new ArrayList<>();
        for (LokrParam p : ps) {
            k.add(p.key());
        }
        return k;
    }

    /**
     * Sets the strength {@code m} of every adapter; takes effect on the next forward pass (inference too).
     *
     * @param multiplier finite
     * @throws IllegalArgumentException if it is not finite
     */
    public void setMultiplier(double multiplier) {
        for (BaseLokrLayerImpl l : impls().values()) {
            l.layerConf().setMultiplier(multiplier);
        }
    }

    /**
     * @return the multiplier shared by every adapter
     * @throws IllegalStateException if the layers have different multipliers (see {@link #layerConf})
     */
    public double getMultiplier() {
        Double m = null;
        for (Map.Entry<String, BaseLokrLayerImpl> e : impls().entrySet()) {
            double v = e.getValue().layerConf().getMultiplier();
            if (m != null && Double.compare(m, v) != 0) {
                throw new IllegalStateException("the layers have different multipliers: " + m + " and " + v
                        + " ('" + e.getKey() + "')");
            }
            m = v;
        }
        return m;
    }

    /**
     * Switches every adapter on or off. Off, each adapted layer computes its base layer exactly (also for
     * DoRA, where a multiplier of 0 would not).
     *
     * @param enabled true to apply the adapters
     */
    public void setEnabled(boolean enabled) {
        for (BaseLokrLayerImpl l : impls().values()) {
            l.layerConf().setEnabled(enabled);
        }
    }

    /** @return whether every adapter is enabled */
    public boolean isEnabled() {
        for (BaseLokrLayerImpl l : impls().values()) {
            if (!l.layerConf().isEnabled()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Sets the learning rate of every parameter that trains, the adapters included, replacing any
     * learning-rate schedule; updater state (Adam's moments) and the iteration count are kept. Use this rather
     * than DL4J's {@code net.setLearningRate(lr)} on an adapted network: DL4J's reaches only its own layer types,
     * so the adapters keep their old rate, and it gives the new rate to the layers that
     * {@code apply(..., freezeOthers = true)} froze with a zero-rate {@code Sgd}, which then train.
     *
     * <p>What keeps its updater: the adapted layers' {@code W} and {@code b} ({@code NoOp}), layers inside
     * {@code FrozenLayer} or {@code FrozenLayerWithBackprop} (adapted ones included), the layers
     * {@code freezeOthers} froze ({@link Frozen#updater()}), and updaters without a learning rate ({@code NoOp},
     * {@code AdaDelta}). As with DL4J's call, any other updater gets the rate, an {@code Sgd} whose rate is 0
     * included: after {@code setLearningRate(0)}, {@code setLearningRate(1e-3)} resumes training.
     *
     * @param learningRate the new rate, finite and at least 0 (at 0, {@code Sgd} stops; ND4J's {@code Adam} and
     *                     its relatives still step by about their epsilon, which they put in place of a zero
     *                     step size)
     * @throws IllegalArgumentException if the rate is negative, NaN or infinite
     */
    public void setLearningRate(double learningRate) {
        if (!(learningRate >= 0.0) || Double.isInfinite(learningRate)) {
            throw new IllegalArgumentException("learningRate must be finite and >= 0, got " + learningRate);
        }
        for (IUpdater u : trainingUpdaters()) {
            u.setLrAndSchedule(learningRate, null);
        }
    }

    /**
     * Sets a learning-rate schedule on every parameter that trains, as {@link #setLearningRate(double)} sets a
     * rate (the same parameters keep their updater). The schedule counts the network's iterations or epochs
     * from their current values.
     *
     * @param schedule the schedule, not null
     */
    public void setLearningRate(ISchedule schedule) {
        Objects.requireNonNull(schedule, "schedule");
        for (IUpdater u : trainingUpdaters()) {
            u.setLrAndSchedule(Double.NaN, schedule);
        }
    }

    /**
     * The updater configurations of the parameters that train, each once. DL4J's updaters hold these very
     * objects, so changing one changes the training at the next step.
     */
    private Collection<IUpdater> trainingUpdaters() {
        Map<IUpdater, Boolean> found = new IdentityHashMap<>();
        for (Layer l : Networks.layers(network)) {
            org.deeplearning4j.nn.conf.layers.Layer deciding = Frozen.trainingLayer(Networks.conf(network, l));
            if (Frozen.isFrozenLayer(deciding) || l.paramTable() == null) {
                continue;
            }
            for (String key : l.paramTable().keySet()) {
                IUpdater u = deciding.getUpdaterByParam(key);
                if (u != null && u.hasLearningRate() && !Frozen.isFreezeOthersUpdater(u)) {
                    found.put(u, Boolean.TRUE);
                }
            }
        }
        return found.keySet();
    }

    /**
     * Merges the adapters: a new, plain DL4J network of the same kind whose adapted layers are their base
     * configurations (DenseLayer, OutputLayer, ConvolutionLayer, ...) with {@code W <- W'}, the effective
     * weight of {@code dev.lokr.math.LokrWeights#effectiveWeight} at the current multiplier ({@code W} itself
     * for disabled adapters). An adapted layer inside a wrapper (a {@code FrozenLayer} from
     * {@code TransferLearning.setFeatureExtractor}, for example) keeps its wrappers around the merged base layer.
     * Its outputs equal this network's in inference. This network is not modified.
     *
     * @return the merged network (new parameters, no updater state)
     */
    public N merge() {
        Map<String, org.deeplearning4j.nn.conf.layers.Layer> bases = new LinkedHashMap<>();
        for (Layer l : Networks.layers(network)) {
            if (Networks.lokrLayer(l) != null) {
                bases.put(Networks.name(l), Networks.mapInnermost(Networks.conf(network, l),
                        c -> ((LokrLayer) c).getBase().clone()));
            }
        }
        N merged = Networks.rebuild(network, bases);
        List<Layer> src = Networks.layers(network);
        List<Layer> dst = Networks.layers(merged);
        for (int i = 0; i < src.size(); i++) {
            BaseLokrLayerImpl l = Networks.lokrLayer(src.get(i));
            if (l != null) {
                Layer target = merged instanceof MultiLayerNetwork ? dst.get(i)
                        : ((ComputationGraph) merged).getLayer(Networks.name(src.get(i)));
                INDArray w = l.effectiveWeight();
                target.getParam("W").assign(w);
                if (w.closeable()) {
                    w.close();   // one weight-sized temporary at a time, not one per layer until the collector runs
                }
            }
        }
        return merged;
    }

    /** @return the number of adapter values (the trainable tensors of the adapted layers) */
    public long adapterParamCount() {
        long n = 0;
        for (BaseLokrLayerImpl l : impls().values()) {
            n += l.adapter().layout().numParams();
        }
        return n;
    }

    /** @return the number of frozen base values ({@code W}, {@code b}) of the adapted layers */
    public long frozenParamCount() {
        long n = 0;
        for (BaseLokrLayerImpl l : impls().values()) {
            n += l.numParams() - l.adapter().layout().numParams();
        }
        return n;
    }

    /** @return the number of all parameter values of the network */
    public long totalParamCount() {
        return network.numParams();
    }

    /**
     * The LyCORIS module name of a layer: {@code lycoris_} + the name with {@code '.'} replaced by {@code '_'}.
     *
     * @param layerName a DL4J layer name
     * @return the module name
     */
    public static String moduleName(String layerName) {
        return MODULE_PREFIX + layerName.replace('.', '_');
    }

    /** @return the LyCORIS module name of every adapted layer, by layer name, in network order */
    public Map<String, String> moduleNames() {
        Map<String, String> m = new LinkedHashMap<>();
        for (String name : impls().keySet()) {
            m.put(name, moduleName(name));
        }
        return Collections.unmodifiableMap(m);
    }

    /**
     * A readable report: each adapted layer with its base type, weight shape and factor shapes, then the
     * parameter counts (trainable adapter values, frozen base values, other layers' values, total).
     *
     * @return the report, several lines
     */
    public String report() {
        Map<String, BaseLokrLayerImpl> impls = impls();
        Set<String> frozenAdapters = frozenAdapters();
        StringBuilder sb = new StringBuilder();
        sb.append("LoKR ").append(network.getClass().getSimpleName()).append(": ").append(impls.size())
                .append(impls.size() == 1 ? " adapted layer" : " adapted layers").append('\n');
        for (Map.Entry<String, BaseLokrLayerImpl> e : impls.entrySet()) {
            LokrLayer c = e.getValue().layerConf();
            LokrLayout layout = e.getValue().adapter().layout();
            sb.append("  ").append(e.getKey()).append(" (").append(c.getBase().getClass().getSimpleName())
                    .append(", weight ").append(Arrays.toString(layout.weightShape())).append("): ");
            for (LokrParam p : layout.params()) {
                sb.append(p.key()).append(Arrays.toString(layout.shapeOf(p))).append(' ');
            }
            sb.append("| w1 ").append(layout.w1Mode()).append(", w2 ").append(layout.w2Mode())
                    .append(", rank ").append(layout.rank()).append(", scale ").append(layout.scale())
                    .append(layout.dora() ? ", DoRA " + layout.doraAxis() : "")
                    .append(", multiplier ").append(c.getMultiplier())
                    .append(c.isEnabled() ? "" : ", DISABLED")
                    .append(frozenAdapters.contains(e.getKey()) ? ", frozen by its wrapper" : "")
                    .append(", ").append(layout.numParams()).append(" params\n");
        }
        long adapter = adapterParamCount();
        long frozen = frozenParamCount();
        long total = totalParamCount();
        long inFrozenWrappers = 0;
        for (String name : frozenAdapters) {
            inFrozenWrappers += impls.get(name).adapter().layout().numParams();
        }
        sb.append("  params: ").append(adapter - inFrozenWrappers).append(" trainable (adapters")
                .append(inFrozenWrappers == 0 ? "" : "; " + inFrozenWrappers + " more inside frozen wrappers")
                .append("), ").append(frozen).append(" frozen (adapted layers' W, b), ")
                .append(total - adapter - frozen).append(" in other layers (").append(frozenInOtherLayers())
                .append(" of them frozen), ").append(total).append(" total");
        return sb.toString();
    }

    /** Adapted layers inside a {@code FrozenLayer} or {@code FrozenLayerWithBackprop}: their adapters do not train. */
    private Set<String> frozenAdapters() {
        Set<String> names = new TreeSet<>();
        for (Layer l : Networks.layers(network)) {
            if (Networks.lokrLayer(l) != null
                    && Frozen.isFrozenLayer(Frozen.trainingLayer(Networks.conf(network, l)))) {
                names.add(Networks.name(l));
            }
        }
        return names;
    }

    /**
     * Values of the layers without an adapter that are frozen: those inside a frozen wrapper, and those with the
     * updater {@code freezeOthers} gives ({@link Frozen#updater()}). An {@code Sgd} whose rate a user set to 0 is
     * a rate, as for {@link #setLearningRate(double)}, and {@code NoOp} alone does not count either: DL4J
     * applies the gradient unscaled, and batch normalization's running statistics change through it.
     */
    private long frozenInOtherLayers() {
        long n = 0;
        for (Layer l : Networks.layers(network)) {
            if (Networks.lokrLayer(l) != null || l.numParams() == 0) {
                continue;
            }
            org.deeplearning4j.nn.conf.layers.Layer deciding = Frozen.trainingLayer(Networks.conf(network, l));
            for (Map.Entry<String, INDArray> e : l.paramTable().entrySet()) {
                if (Frozen.isFrozenLayer(deciding)
                        || Frozen.isFreezeOthersUpdater(deciding.getUpdaterByParam(e.getKey()))) {
                    n += e.getValue().length();
                }
            }
        }
        return n;
    }

    @Override
    public String toString() {
        return report();
    }
}
