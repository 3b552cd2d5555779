package dev.lokr.dl4j.train;

import dev.lokr.dl4j.Frozen;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.io.Json;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.NoOp;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A byte budget of a DL4J network for one batch size: parameters split into frozen and trainable,
 * updater state, an estimate of the activations of one forward pass, and an optional measured peak.
 *
 * <p>A parameter is <b>frozen</b> when DL4J's {@code fit} keeps it fixed ({@link Frozen#staysFixed}): its
 * layer is a {@code FrozenLayer}/{@code FrozenLayerWithBackprop}, its updater
 * ({@code conf.getLayer().getUpdaterByParam(name)}) is a zero-rate {@code Sgd}, or it is a LoKR layer's
 * frozen {@code W} or {@code b}; every other parameter is trainable, one with a {@link NoOp} updater on
 * another layer too (DL4J 1.0.0-M2.1 applies its raw gradient; it keeps no updater state). Bytes are element counts times the element
 * width of the array's data type.
 *
 * @param modelType simple class name of the network ({@code MultiLayerNetwork}, {@code
 *     ComputationGraph})
 * @param batchSize the batch size the activation estimate is for, {@code >= 1}
 * @param dataType the network's data type (as {@link DataType#name()})
 * @param trainableParams number of trainable parameter elements
 * @param frozenParams number of frozen parameter elements
 * @param trainableParamBytes bytes of trainable parameters
 * @param frozenParamBytes bytes of frozen parameters
 * @param updaterStateBytes bytes of the updater state view ({@code
 *     getUpdater().getStateViewArray()}); 0 when there is none (e.g. SGD or only NoOp updaters)
 * @param activationBytes estimated bytes of all layer outputs of one forward pass at {@code
 *     batchSize} (sum over layers of output elements per example &times; batch &times; width), or
 *     -1 when the input type is unknown
 * @param measuredPeakBytes a peak measured by the caller (see {@link #withMeasuredPeak(long)}), or
 *     -1
 */
public record MemoryReport(
        String modelType,
        int batchSize,
        String dataType,
        long trainableParams,
        long frozenParams,
        long trainableParamBytes,
        long frozenParamBytes,
        long updaterStateBytes,
        long activationBytes,
        long measuredPeakBytes) {
    private static final Logger log = LoggerFactory.getLogger(MemoryReport.class);

    /** Validates the components. */
    public MemoryReport {
        Objects.requireNonNull(modelType, "modelType");
        Objects.requireNonNull(dataType, "dataType");
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        requireNonNegative("trainableParams", trainableParams);
        requireNonNegative("frozenParams", frozenParams);
        requireNonNegative("trainableParamBytes", trainableParamBytes);
        requireNonNegative("frozenParamBytes", frozenParamBytes);
        requireNonNegative("updaterStateBytes", updaterStateBytes);
        if (activationBytes < -1) {
            throw new IllegalArgumentException(
                    "activationBytes must be >= 0 or -1 (unknown), got " + activationBytes);
        }
        if (measuredPeakBytes < -1) {
            throw new IllegalArgumentException(
                    "measuredPeakBytes must be >= 0 or -1 (not measured), got "
                            + measuredPeakBytes);
        }
    }

    private static void requireNonNegative(String name, long v) {
        if (v < 0) {
            throw new IllegalArgumentException(name + " must be >= 0, got " + v);
        }
    }

    /**
     * Computes the report of a {@link MultiLayerNetwork} or {@link ComputationGraph}, inferring the
     * input types from the first layers' {@code nIn} (feed-forward inputs). When they cannot be
     * inferred, {@link #activationBytes()} is -1; pass them with {@link #of(Model, int,
     * InputType...)}.
     *
     * @param net an initialized network
     * @param batchSize batch size for the activation estimate, {@code >= 1}
     * @return the report, with no measured peak
     */
    public static MemoryReport of(Model net, int batchSize) {
        return of(net, batchSize, (InputType[]) null);
    }

    /**
     * Computes the report with explicit network input types (one per network input).
     *
     * @param net an initialized {@link MultiLayerNetwork} or {@link ComputationGraph}
     * @param batchSize batch size for the activation estimate, {@code >= 1}
     * @param inputTypes the network's input types, or null to infer them
     * @return the report, with no measured peak
     * @throws IllegalArgumentException for another kind of model, one not initialised, or a bad batch size
     */
    public static MemoryReport of(Model net, int batchSize, InputType... inputTypes) {
        Objects.requireNonNull(net, "net");
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        Layer[] layers;
        INDArray updaterState;
        DataType dtype;
        long activationElementsPerExample;
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork mln = (MultiLayerNetwork) net;
            layers = mln.getLayers();
            if (layers == null) {
                throw new IllegalArgumentException("net must be initialised (call net.init()): it has no layers");
            }
            updaterState = mln.getUpdater() == null ? null : mln.getUpdater().getStateViewArray();
            MultiLayerConfiguration conf = mln.getLayerWiseConfigurations();
            dtype = conf.getDataType();
            activationElementsPerExample = activationElements(conf, inputTypes);
        } else if (net instanceof ComputationGraph) {
            ComputationGraph cg = (ComputationGraph) net;
            layers = cg.getLayers();
            if (layers == null) {
                throw new IllegalArgumentException("net must be initialised (call net.init()): it has no layers");
            }
            updaterState = cg.getUpdater() == null ? null : cg.getUpdater().getStateViewArray();
            ComputationGraphConfiguration conf = cg.getConfiguration();
            dtype = conf.getDataType();
            activationElementsPerExample = activationElements(conf, inputTypes);
        } else {
            throw new IllegalArgumentException(
                    "net must be a MultiLayerNetwork or ComputationGraph, got "
                            + net.getClass().getName());
        }
        long trainable = 0;
        long frozen = 0;
        long trainableBytes = 0;
        long frozenBytes = 0;
        for (Layer layer : layers) {
            org.deeplearning4j.nn.conf.layers.Layer cfg = layer.conf().getLayer();
            boolean frozenLayer =
                    Frozen.isFrozenLayer(cfg)
                            || layer instanceof org.deeplearning4j.nn.layers.FrozenLayer
                            || layer
                                    instanceof org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
            for (Map.Entry<String, INDArray> e : layer.paramTable().entrySet()) {
                INDArray p = e.getValue();
                long n = p.length();
                long bytes = n * p.dataType().width();
                if (frozenLayer || Frozen.staysFixed(cfg, e.getKey())) {
                    frozen += n;
                    frozenBytes += bytes;
                } else {
                    trainable += n;
                    trainableBytes += bytes;
                }
            }
        }
        long updaterBytes =
                updaterState == null ? 0 : updaterState.length() * updaterState.dataType().width();
        long activationBytes =
                activationElementsPerExample < 0
                        ? -1
                        : activationElementsPerExample * batchSize * dtype.width();
        return new MemoryReport(
                net.getClass().getSimpleName(),
                batchSize,
                dtype.name(),
                trainable,
                frozen,
                trainableBytes,
                frozenBytes,
                updaterBytes,
                activationBytes,
                -1);
    }


    private static long activationElements(MultiLayerConfiguration conf, InputType[] given) {
        InputType input;
        if (given != null && given.length > 0) {
            if (given.length != 1) {
                throw new IllegalArgumentException(
                        "a MultiLayerNetwork has 1 input, got " + given.length + " input types");
            }
            input = Objects.requireNonNull(given[0], "inputTypes[0]");
        } else {
            if (conf.getConfs().isEmpty()) {
                return 0;
            }
            input = feedForwardInput(conf.getConf(0).getLayer());
            if (input == null) {
                return -1;
            }
        }
        try {
            long total = 0;
            // on a copy: DL4J sets each layer's nIn from the types, which must not reach the live network
            for (InputType t : conf.clone().getLayerActivationTypes(input)) {
                total += t.arrayElementsPerExample();
            }
            return total;
        } catch (RuntimeException e) {
            log.debug(
                    "cannot derive layer output types from input type {}: {}", input, e.toString());
            return -1;
        }
    }

    private static long activationElements(ComputationGraphConfiguration conf, InputType[] given) {
        List<String> inputs = conf.getNetworkInputs();
        InputType[] types;
        if (given != null && given.length > 0) {
            if (given.length != inputs.size()) {
                throw new IllegalArgumentException(
                        "the ComputationGraph has "
                                + inputs.size()
                                + " inputs "
                                + inputs
                                + ", got "
                                + given.length
                                + " input types");
            }
            types = given;
        } else {
            types = new InputType[inputs.size()];
            for (int i = 0; i < types.length; i++) {
                types[i] = inferGraphInput(conf, inputs.get(i));
                if (types[i] == null) {
                    return -1;
                }
            }
        }
        try {
            long total = 0;
            // on a copy: DL4J sets each layer's nIn from the types, which must not reach the live network
            for (Map.Entry<String, InputType> e : conf.clone().getLayerActivationTypes(types).entrySet()) {
                if (!inputs.contains(e.getKey())) {
                    total += e.getValue().arrayElementsPerExample();
                }
            }
            return total;
        } catch (RuntimeException e) {
            log.debug("cannot derive vertex output types: {}", e.toString());
            return -1;
        }
    }

    /** The feed-forward input type of the first layer vertex that reads {@code input}, or null. */
    private static InputType inferGraphInput(ComputationGraphConfiguration conf, String input) {
        for (Map.Entry<String, List<String>> e : conf.getVertexInputs().entrySet()) {
            if (e.getValue() == null || !e.getValue().contains(input)) {
                continue;
            }
            GraphVertex v = conf.getVertices().get(e.getKey());
            if (v instanceof LayerVertex && e.getValue().size() == 1) {
                InputType t = feedForwardInput(((LayerVertex) v).getLayerConf().getLayer());
                if (t != null) {
                    return t;
                }
            }
        }
        return null;
    }

    private static InputType feedForwardInput(org.deeplearning4j.nn.conf.layers.Layer layer) {
        // Look through wrappers (FrozenLayer, FrozenLayerWithBackprop, ..., a LoKR layer) to the layer with nIn.
        for (int depth = 0; depth < 8; depth++) {
            if (layer instanceof FrozenLayer) {
                layer = ((FrozenLayer) layer).getLayer();
            } else if (layer instanceof LokrLayer) {
                layer = ((LokrLayer) layer).getBase();
            } else if (layer instanceof BaseWrapperLayer) {
                layer = ((BaseWrapperLayer) layer).getUnderlying();
            } else {
                break;
            }
        }
        if (layer instanceof FeedForwardLayer && ((FeedForwardLayer) layer).getNIn() > 0) {
            return InputType.feedForward(((FeedForwardLayer) layer).getNIn());
        }
        return null;
    }

    /**
     * @param peakBytes a measured peak, e.g. from the allocator's counters, {@code >= 0}
     * @return a copy with {@link #measuredPeakBytes()} set
     */
    public MemoryReport withMeasuredPeak(long peakBytes) {
        if (peakBytes < 0) {
            throw new IllegalArgumentException("peakBytes must be >= 0, got " + peakBytes);
        }
        return new MemoryReport(
                modelType,
                batchSize,
                dataType,
                trainableParams,
                frozenParams,
                trainableParamBytes,
                frozenParamBytes,
                updaterStateBytes,
                activationBytes,
                peakBytes);
    }

    /**
     * @return {@code trainableParamBytes + frozenParamBytes}
     */
    public long paramBytes() {
        return trainableParamBytes + frozenParamBytes;
    }

    /**
     * @return parameters + updater state + activations (activations counted as 0 when unknown)
     */
    public long estimatedTotalBytes() {
        return paramBytes() + updaterStateBytes + Math.max(0, activationBytes);
    }

    /**
     * @return a JSON object with every component plus {@code paramBytes} and {@code
     *     estimatedTotalBytes}; -1 marks unknown activations / no measured peak
     */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("modelType", modelType);
        m.put("batchSize", batchSize);
        m.put("dataType", dataType);
        m.put("trainableParams", trainableParams);
        m.put("frozenParams", frozenParams);
        m.put("trainableParamBytes", trainableParamBytes);
        m.put("frozenParamBytes", frozenParamBytes);
        m.put("paramBytes", paramBytes());
        m.put("updaterStateBytes", updaterStateBytes);
        m.put("activationBytes", activationBytes);
        m.put("estimatedTotalBytes", estimatedTotalBytes());
        m.put("measuredPeakBytes", measuredPeakBytes);
        return Json.write(m);
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        parts.add("trainable params " + trainableParams + " (" + human(trainableParamBytes) + ")");
        parts.add("frozen params " + frozenParams + " (" + human(frozenParamBytes) + ")");
        parts.add("updater state " + human(updaterStateBytes));
        parts.add(
                "activations/batch " + (activationBytes < 0 ? "unknown" : human(activationBytes)));
        parts.add("estimated total " + human(estimatedTotalBytes()));
        parts.add(
                "measured peak "
                        + (measuredPeakBytes < 0 ? "not measured" : human(measuredPeakBytes)));
        return "MemoryReport["
                + modelType
                + ", batch "
                + batchSize
                + ", "
                + dataType
                + "]: "
                + String.join(", ", parts);
    }

    /** Formats bytes with binary units, e.g. {@code 1.50 KiB}; exact byte counts below 1 KiB. */
    static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.2f %s", v, units[u]);
    }
}
