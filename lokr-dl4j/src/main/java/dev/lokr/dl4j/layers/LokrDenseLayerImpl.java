package dev.lokr.dl4j.layers;

import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.math.LokrDense;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * Runtime of a LoKR-adapted {@code DenseLayer}: {@code out = activation(x W'^T + b)} with the adapter
 * computed by {@link LokrDense} (the Kronecker identity, never building {@code dW}). The input dropout,
 * activation and masks are those of the base layer, applied as DL4J's dense layer applies them.
 *
 * <p>Shapes: input {@code [N, nIn]}, output {@code [N, nOut]}; {@code W} is DL4J's {@code [nIn, nOut]}
 * and is handed to the core as the transposed view {@code [nOut, nIn]}.
 */
public class LokrDenseLayerImpl extends BaseLokrLayerImpl {

    private LokrDense.Cache stepCache;
    private INDArray stepPreOutput;

    /**
     * @param conf     the layer configuration (its layer is a {@link LokrLayer} over a dense base)
     * @param dataType the network data type
     */
    public LokrDenseLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public Type type() {
        return Type.FEED_FORWARD;
    }

    /** @return the base layer's activation function */
    protected IActivation activationFn() {
        return ((BaseLayer) layerConf().getBase()).getActivationFn();
    }

    @Override
    protected void endStep() {
        super.endStep();
        stepCache = null;
        stepPreOutput = null;
    }

    /**
     * The pre-activation {@code z = x W'^T + b} (masked), in the ACTIVATIONS workspace. In training it is
     * computed once per step (with that step's dropouts) and kept, with the forward cache, for backprop.
     *
     * @param training     training pass
     * @param workspaceMgr the workspace manager
     * @return {@code z [N, nOut]}, a new array the caller may modify
     */
    protected INDArray preOutput(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        checkLiveBase();
        applyDropOutIfNecessary(training, workspaceMgr);
        checkInput();
        INDArray z;
        if (training) {
            if (startStep() || stepPreOutput == null) {
                stepCache = adapterActive(true) ? new LokrDense.Cache() : null;
                stepPreOutput = detached(() -> forward(true, stepCache));
            }
            z = workspaceMgr.dup(ArrayType.ACTIVATIONS, stepPreOutput);
        } else {
            z = workspaceMgr.leverageTo(ArrayType.ACTIVATIONS, forward(false, null));
        }
        if (maskArray != null) {
            applyMask(z);
        }
        return z;
    }

    /** {@code x W'^T + b}, or the plain {@code x W + b} when the adapter is off for this pass. */
    private INDArray forward(boolean training, LokrDense.Cache cache) {
        INDArray x = input.castTo(dataType);
        INDArray w = baseWeight();
        if (!adapterActive(training)) {
            INDArray y = x.mmul(w);
            if (hasBias()) {
                y.addiRowVector(baseBias());
            }
            return y;
        }
        return LokrDense.forward(adapter(), w.transpose(), baseBias(), x, multiplier(),
                training ? stepMask() : null, cache);
    }

    private void checkInput() {
        long nIn = baseWeight().size(0);
        if (input.rank() != 2 || input.size(1) != nIn) {
            throw new DL4JInvalidInputException("layer '" + layerConf().getLayerName() + "' (LoKR over "
                    + layerConf().getBase().getClass().getSimpleName() + ") needs input [N, " + nIn + "], got "
                    + Arrays.toString(input.shape()) + " (if TransferLearning's nOutReplace resized the layer"
                    + " before it: a LoKR layer cannot be resized; resize before LokrNetworks.apply, or after merge) " + layerId());
        }
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        INDArray z = preOutput(training, workspaceMgr);
        INDArray out = activationFn().getActivation(z, training);
        if (maskArray != null) {
            applyMask(out);
        }
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray z = preOutput(true, workspaceMgr);
        INDArray delta = activationFn().backprop(z, epsilon).getFirst();
        if (maskArray != null) {
            applyMask(delta);
        }
        return backpropDelta(delta, workspaceMgr);
    }

    /**
     * Backward from {@code delta = dL/dz [N, nOut]}: the adapter gradients (into the gradient views), zero
     * for {@code W} and {@code b}, and {@code dL/dx} through the input dropout.
     *
     * @param delta        the gradient at the pre-activation, not modified
     * @param workspaceMgr the workspace manager
     * @return the gradient and {@code dL/dx [N, nIn]} in the ACTIVATION_GRAD workspace
     */
    protected Pair<Gradient, INDArray> backpropDelta(INDArray delta, LayerWorkspaceMgr workspaceMgr) {
        INDArray w = baseWeight();
        INDArray dx;
        if (stepCache != null) {
            dx = LokrDense.backward(w.transpose(), delta, stepCache, adapterGrads(), true);
        } else {
            adapterGrads().zero();
            dx = delta.castTo(dataType).mmul(w.transpose());
        }
        Gradient g = collectGradient();
        dx = workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, dx);
        dx = backpropDropOutIfPresent(dx);
        return new Pair<>(g, dx);
    }
}
