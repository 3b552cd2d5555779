package dev.lokr.dl4j.layers;

import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.params.LokrParamInitializer;
import dev.lokr.math.LokrWeights;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runtime of a LoKR-adapted convolution ({@code ConvolutionLayer} 2-D or {@code Convolution1DLayer}).
 *
 * <p>It builds the effective weight {@code W'} once per step with {@link LokrWeights#effectiveWeight} and
 * runs DL4J's own convolution runtime (the "inner" layer, which keeps the base's padding, stride,
 * dilation, data format, activation, input dropout, masks and MKL-DNN/cuDNN helpers) with {@code W'} in
 * place of {@code W}. A 1-D convolution over NWC data runs an NCW inner layer on permuted views of its
 * input, output and gradients, because DL4J 1.0.0-M2.1's own NWC backward fails. In backward, the inner layer's weight gradient {@code dL/dW'} goes to
 * {@link LokrWeights#backward} for the adapter gradients; {@code W} and {@code b} get zero gradient.
 *
 * <p>Shapes: {@code W [nOut, nIn, kH, kW]} (1-D: {@code [nOut, nIn, k]}, seen by the core as
 * {@code [nOut, nIn, k, 1]}); input and output as the base layer's.
 */
public class LokrConvolutionLayerImpl extends BaseLokrLayerImpl {

    private ConvolutionLayer inner;
    private NeuralNetConfiguration innerConf;
    private INDArray innerGradients;
    private Map<String, INDArray> innerGradientViews;
    private INDArray stepWeight;
    /** Whether the adapter was on, and its strength, when {@link #stepWeight} was built: the backward uses them. */
    private boolean stepActive;
    private double stepMultiplier;
    /** A 1-D convolution over NWC data, run by an NCW inner layer on permuted views. */
    private boolean channelsLast;

    /**
     * @param conf     the layer configuration (its layer is a {@link LokrLayer} over a convolution)
     * @param dataType the network data type
     */
    public LokrConvolutionLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public Type type() {
        return Type.CONVOLUTIONAL;
    }

    /**
     * The DL4J runtime of the base convolution, created on first use, with scratch gradient views. For a
     * channels-last 1-D layer, its NCW configuration is taken again from the live base on every call, so that
     * settings changed after the first pass (input dropout, activation) apply as they do to the base itself.
     */
    private ConvolutionLayer inner() {
        if (inner == null) {
            innerConf = LokrParamInitializer.innerConf(conf);
            channelsLast = layerConf().getBase() instanceof Convolution1DLayer c1
                    && c1.getRnnDataFormat() == RNNFormat.NWC;
            syncChannelsLast();
            inner = layerConf().getBase() instanceof Convolution1DLayer
                    ? new org.deeplearning4j.nn.layers.convolution.Convolution1DLayer(innerConf, dataType)
                    : new ConvolutionLayer(innerConf, dataType);
            inner.setIndex(getIndex());
            inner.setCacheMode(cacheMode);
            inner.setIterationCount(getIterationCount());
            inner.setEpochCount(getEpochCount());
            inner.allowInputModification(inputModificationAllowed);
            inner.setMaskArray(maskArray);
            setInnerWeight(baseWeight());
            innerGradients = detached(() -> Nd4j.zeros(dataType, 1, inner.numParams()));
            inner.setBackpropGradientsViewArray(innerGradients);
            innerGradientViews = layerConf().getBase().initializer().getGradientsFromFlattened(innerConf, innerGradients);
        } else {
            syncChannelsLast();
        }
        return inner;
    }

    /**
     * DL4J 1.0.0-M2.1's Convolution1DLayer cannot backpropagate NWC (its conv1d_bp gets NWC arrays described as
     * NCW and fails): for NWC the inner layer runs an NCW copy of the live base, and this layer permutes around
     * it. The copy shares the base's dropout object, which holds the mask from the forward pass for backward.
     */
    private void syncChannelsLast() {
        if (channelsLast) {
            Convolution1DLayer live = (Convolution1DLayer) layerConf().getBase();
            Convolution1DLayer ncw = (Convolution1DLayer) live.clone();
            ncw.setRnnDataFormat(RNNFormat.NCW);
            ncw.setIDropout(live.getIDropout());
            innerConf.setLayer(ncw);
        }
    }

    /** Points the inner layer's parameter table at {@code weight} (shaped as {@code W}) and the frozen bias. */
    private void setInnerWeight(INDArray weight) {
        Map<String, INDArray> table = new LinkedHashMap<>();
        if (hasBias()) {
            table.put(BIAS_KEY, baseBias());
        }
        table.put(WEIGHT_KEY, weight);
        inner.setParamTable(table);
    }

    @Override
    protected void endStep() {
        super.endStep();
        stepWeight = null;
    }

    /** The weight this pass convolves with: {@code W'} (kept for the step when training) or {@code W}. */
    private INDArray passWeight(boolean training) {
        if (training) {
            if (startStep() || stepWeight == null) {
                // read once per step: a change from another thread cannot mix two values into one step
                stepActive = adapterActive(true);
                stepMultiplier = layerConf().getMultiplier();
                stepWeight = stepActive ? detached(() -> effectiveWeight(stepMask(), stepMultiplier)) : baseWeight();
            }
            return stepWeight;
        }
        return adapterActive(false) ? effectiveWeight(null) : baseWeight();
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        checkLiveBase();
        ConvolutionLayer layer = inner();
        setInnerWeight(passWeight(training));
        INDArray out = layer.activate(swapLayout(input), training, workspaceMgr);
        return channelsLast ? workspaceMgr.leverageTo(ArrayType.ACTIVATIONS, swapLayout(out)) : out;
    }

    /**
     * Between this layer's layout and the inner layer's: for a channels-last layer, NWC {@code [N, W, C]} and
     * NCW {@code [N, C, W]} views of each other (the same swap both ways); otherwise {@code x} itself.
     */
    private INDArray swapLayout(INDArray x) {
        return channelsLast ? x.permute(0, 2, 1) : x;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        ConvolutionLayer layer = inner();
        boolean fresh = stepWeight == null;
        setInnerWeight(passWeight(true));
        if (fresh || layer.input() == null) {
            layer.setInput(swapLayout(input), workspaceMgr);
        }
        Pair<Gradient, INDArray> innerResult = layer.backpropGradient(swapLayout(epsilon), workspaceMgr);
        if (stepActive) {
            LokrLayer c = layerConf();
            INDArray gradEff = LokrParamInitializer.pytorchWeight(c, innerGradientViews.get(WEIGHT_KEY));
            LokrWeights.backward(adapter(), LokrParamInitializer.pytorchWeight(c, baseWeight()), stepMultiplier,
                    stepMask(), gradEff, adapterGrads());
        } else {
            adapterGrads().zero();
        }
        INDArray epsilonOut = innerResult.getSecond();
        if (channelsLast) {
            epsilonOut = workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, swapLayout(epsilonOut));
        }
        return new Pair<>(collectGradient(), epsilonOut);
    }

    @Override
    public void setMaskArray(INDArray maskArray) {
        super.setMaskArray(maskArray);
        if (inner != null) {
            inner.setMaskArray(maskArray);
        }
    }

    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState,
                                                          int minibatchSize) {
        // as DL4J's convolution runtimes do, reduce the mask for the next layer without keeping it: a kept
        // mask would reach the inner layer, which would then mask outputs that the base layer leaves alone
        return inner().feedForwardMaskArray(maskArray, currentMaskState, minibatchSize);
    }

    @Override
    public void setCacheMode(CacheMode mode) {
        super.setCacheMode(mode);
        if (inner != null) {
            inner.setCacheMode(mode);
        }
    }

    @Override
    public void allowInputModification(boolean allow) {
        super.allowInputModification(allow);
        if (inner != null) {
            inner.allowInputModification(allow);
        }
    }

    @Override
    public void setIterationCount(int iterationCount) {
        super.setIterationCount(iterationCount);
        if (inner != null) {
            inner.setIterationCount(iterationCount);
        }
    }

    @Override
    public void setEpochCount(int epochCount) {
        super.setEpochCount(epochCount);
        if (inner != null) {
            inner.setEpochCount(epochCount);
        }
    }

    @Override
    public void clear() {
        super.clear();
        if (inner != null) {
            inner.clear();
        }
    }
}
