package dev.lokr.dl4j.params;

import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.math.LokrInit;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parameters of a {@link LokrLayer}: the base layer's parameters, laid out and initialised by the base's own
 * initializer (for example {@code W [nIn, nOut]} 'f'-order and {@code b [nOut]} for a dense layer,
 * {@code b [nOut]} then {@code W [nOut, nIn, kH, kW]} for a convolution), followed by the adapter tensors
 * {@link LokrLayer#paramKey} ({@code lokrW1}, ...) in the canonical order of the layer's {@link LokrLayout}, each a 'c'-order view
 * ({@link LokrParams#views}) of the flat parameter vector.
 *
 * <p>With {@code initializeParams}, the adapter is initialised by {@link LokrInit#initialize} (so that
 * {@code dW = 0}) from the base weight that the base initializer has just drawn; {@code LokrNetworks}
 * initialises it again after copying the original weights in.
 */
public final class LokrParamInitializer implements ParamInitializer {

    private static final LokrParamInitializer INSTANCE = new LokrParamInitializer();

    private LokrParamInitializer() {
    }

    /** @return the shared instance */
    public static LokrParamInitializer getInstance() {
        return INSTANCE;
    }

    private static LokrLayer lokr(Layer layer) {
        if (!(layer instanceof LokrLayer)) {
            throw new IllegalArgumentException("LokrParamInitializer needs a LokrLayer, got "
                    + (layer == null ? null : layer.getClass().getName()));
        }
        return (LokrLayer) layer;
    }

    /**
     * The configuration that the base layer sees: a copy of {@code conf} holding the base layer.
     *
     * @param conf a configuration holding a {@link LokrLayer}
     * @return a new configuration
     */
    public static NeuralNetConfiguration innerConf(NeuralNetConfiguration conf) {
        NeuralNetConfiguration inner = conf.clone();
        inner.setLayer(lokr(conf.getLayer()).getBase());
        inner.clearVariables();
        return inner;
    }

    /**
     * The base weight (or its gradient) in the PyTorch layout that the LoKR math uses: a view for dense
     * and 2-D conv layers; a copy for a 1-D convolution, whose values DL4J 1.0.0-M2.1 keeps in the order
     * {@code [k, in, out]} behind the reported shape, rearranged as PyTorch's {@code Conv1d} kernel
     * {@code [out, in, k]} (as {@code [out, in, k, 1]}).
     *
     * @param conf   the adapted layer
     * @param weight the base's {@code W}: dense {@code [nIn, nOut]}, conv {@code [nOut, nIn, kH, kW]}, or a 1-D
     *               conv's {@code W}
     * @return {@code [nOut, nIn]} (a transposed view) or {@code [nOut, nIn, kH, kW]}
     */
    public static INDArray pytorchWeight(LokrLayer conf, INDArray weight) {
        if (!conf.convolutionBase()) {
            return weight.transpose();
        }
        if (conf.getBase() instanceof Convolution1DLayer) {
            // DL4J keeps a 1-D kernel's values in the order [k, in, out], whatever shape W reports
            long[] s = conf.weightShape();
            return weight.reshape('c', s[2], s[1], s[0]).permute(2, 1, 0).dup('c').reshape('c', s);
        }
        return weight.rank() == 4 ? weight : weight.reshape('c', conf.weightShape());
    }

    /**
     * The inverse of {@link #pytorchWeight}: a PyTorch-layout weight in the base's DL4J layout.
     *
     * @param conf     the adapted layer
     * @param weight   {@code [nOut, nIn]} or {@code [nOut, nIn, kH, kW]}
     * @param dl4jShape the shape of the base's {@code W}
     * @return a view or reshape of {@code weight} with shape {@code dl4jShape}
     */
    public static INDArray dl4jWeight(LokrLayer conf, INDArray weight, long[] dl4jShape) {
        if (!conf.convolutionBase()) {
            return weight.transpose();
        }
        if (conf.getBase() instanceof Convolution1DLayer) {
            long[] s = conf.weightShape();
            return weight.reshape('c', s[0], s[1], s[2]).permute(2, 1, 0).dup('c').reshape('c', dl4jShape);
        }
        return weight.reshape('c', dl4jShape);
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        LokrLayer l = lokr(layer);
        return l.getBase().initializer().numParams(l.getBase()) + l.layout().numParams();
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        LokrLayer l = lokr(layer);
        List<String> keys = new ArrayList<>(l.getBase().initializer().paramKeys(l.getBase()));
        keys.addAll(adapterKeys(l));
        return keys;
    }

    /** Weight keys: the base's weights and every adapter tensor. */
    @Override
    public List<String> weightKeys(Layer layer) {
        LokrLayer l = lokr(layer);
        List<String> keys = new ArrayList<>(l.getBase().initializer().weightKeys(l.getBase()));
        keys.addAll(adapterKeys(l));
        return keys;
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        LokrLayer l = lokr(layer);
        return l.getBase().initializer().biasKeys(l.getBase());
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return weightKeys(layer).contains(key);
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return biasKeys(layer).contains(key);
    }

    private static List<String> adapterKeys(LokrLayer l) {
        List<String> keys = new ArrayList<>();
        for (LokrParam p : l.layout().params()) {
            keys.add(LokrLayer.paramKey(p));
        }
        return keys;
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        LokrLayer l = lokr(conf.getLayer());
        Map<String, INDArray> out = split(conf, paramsView, (inner, baseView) ->
                l.getBase().initializer().init(inner, baseView, initializeParams));
        if (initializeParams) {
            LokrInit.initialize(adapterOf(l, out), pytorchWeight(l, out.get("W")), l.initSeed());
        }
        conf.clearVariables();
        for (String key : out.keySet()) {
            conf.addVariable(key);
        }
        return out;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        LokrLayer l = lokr(conf.getLayer());
        return split(conf, gradientView, (inner, baseView) ->
                l.getBase().initializer().getGradientsFromFlattened(inner, baseView));
    }

    /** Base part through the base initializer, then the adapter views. */
    private static Map<String, INDArray> split(NeuralNetConfiguration conf, INDArray flatView, BasePart basePart) {
        LokrLayer l = lokr(conf.getLayer());
        LokrLayout layout = l.layout();
        long nBase = l.getBase().initializer().numParams(l.getBase());
        long total = nBase + layout.numParams();
        if (flatView.length() != total) {
            throw new IllegalArgumentException("layer '" + l.getLayerName() + "': parameter view must have " + total
                    + " values (" + nBase + " base + " + layout.numParams() + " adapter), got " + flatView.length());
        }
        INDArray flat = flatView.reshape(flatView.length());
        Map<String, INDArray> out = new LinkedHashMap<>(basePart.apply(innerConf(conf),
                flat.get(NDArrayIndex.interval(0, nBase))));
        LokrParams adapter = LokrParams.views(layout, flat, nBase);
        for (LokrParam p : layout.params()) {
            out.put(LokrLayer.paramKey(p), adapter.get(p));
        }
        return Collections.synchronizedMap(out);
    }

    /** The base initializer's part of {@link #split}. */
    @FunctionalInterface
    private interface BasePart {
        Map<String, INDArray> apply(NeuralNetConfiguration inner, INDArray baseView);
    }

    /**
     * The adapter tensors of a parameter (or gradient) table of a {@link LokrLayer}, without copying.
     *
     * @param conf  the layer
     * @param table its parameter table, or its gradient views
     * @return the adapter tensors as {@link LokrParams} of the layer's layout
     * @throws IllegalArgumentException if a tensor is missing or has the wrong shape
     */
    public static LokrParams adapterOf(LokrLayer conf, Map<String, INDArray> table) {
        LokrLayout layout = conf.layout();
        Map<LokrParam, INDArray> m = new EnumMap<>(LokrParam.class);
        for (LokrParam p : layout.params()) {
            m.put(p, table.get(LokrLayer.paramKey(p)));
        }
        return LokrParams.of(layout, m);
    }
}
