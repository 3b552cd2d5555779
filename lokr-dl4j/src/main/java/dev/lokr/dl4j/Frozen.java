package dev.lokr.dl4j;

import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.schedule.FixedSchedule;

/**
 * The rules for "this parameter does not train". Encoder offload's ({@link #isFrozen}): the layer is a
 * {@link FrozenLayer} or {@link FrozenLayerWithBackprop}, or the parameter's updater is {@link NoOp} or an
 * {@link Sgd} with learning rate 0. The memory report's ({@link #staysFixed}): what DL4J's {@code fit} keeps
 * fixed, which a {@code NoOp} updater alone does not (see below). {@code freezeOthers} freezes with
 * {@link #updater()}, which {@link #isFreezeOthersUpdater} tells apart; {@link LokrNetwork#setLearningRate}
 * and {@link LokrNetwork#report()} take only that updater and frozen wrappers as frozen, so a user's
 * {@code Sgd} at rate 0 is a rate to them.
 *
 * <p>Note that in DL4J 1.0.0-M2.1 a {@code NoOp} updater alone does not keep a parameter fixed during
 * {@code fit}: the gradient is applied unscaled. lokr's adapter layers also give their frozen
 * {@code W} and {@code b} a zero gradient, and {@code freezeOthers} uses {@link #updater()}.
 */
public final class Frozen {

    private Frozen() {
    }

    /**
     * The updater {@code freezeOthers} gives frozen parameters: an {@link Sgd} whose rate is the schedule
     * {@code FixedSchedule(0)}. A zero rate, as {@code Sgd(0)}, but one that {@link #isFreezeOthersUpdater}
     * tells apart from an {@code Sgd} whose rate a user set to 0, so that
     * {@link LokrNetwork#setLearningRate(double)} can leave the first alone and change the second. Plain DL4J
     * classes: a network holding it saves and loads without lokr.
     *
     * @return a new instance
     */
    public static IUpdater updater() {
        return new Sgd(new FixedSchedule(0.0));
    }

    /**
     * @param u an updater, or null
     * @return whether it is (equal to) {@link #updater()}
     */
    public static boolean isFreezeOthersUpdater(IUpdater u) {
        return u instanceof Sgd && ((Sgd) u).getLearningRateSchedule() instanceof FixedSchedule
                && ((FixedSchedule) ((Sgd) u).getLearningRateSchedule()).getValue() == 0.0;
    }

    /**
     * @param u an updater, or null
     * @return true for {@link NoOp} and for a zero-rate {@link Sgd} ({@link #isZeroRate})
     */
    public static boolean isFrozenUpdater(IUpdater u) {
        return u instanceof NoOp || isZeroRate(u);
    }

    /**
     * @param u an updater, or null
     * @return true for a schedule-free {@link Sgd} with learning rate 0 and for {@link #updater()}
     */
    public static boolean isZeroRate(IUpdater u) {
        return isFreezeOthersUpdater(u) || (u instanceof Sgd && ((Sgd) u).getLearningRateSchedule() == null
                && ((Sgd) u).getLearningRate() == 0.0);
    }

    /**
     * @param conf a layer configuration
     * @return whether it is a frozen wrapper ({@link FrozenLayer} or {@link FrozenLayerWithBackprop})
     */
    public static boolean isFrozenLayer(Layer conf) {
        return conf instanceof FrozenLayer || conf instanceof FrozenLayerWithBackprop;
    }

    /**
     * The configuration that decides whether and how {@code conf}'s parameters train: {@code conf} itself, or
     * the layer inside {@code TimeDistributed}, {@code LastTimeStep} or {@code MaskZeroLayer} wrappers (nested
     * too); a frozen wrapper ({@link #isFrozenLayer}) at any level is returned itself, as it decides.
     *
     * @param conf a layer configuration, as the network's configuration holds it
     * @return the deciding configuration
     */
    public static Layer trainingLayer(Layer conf) {
        Layer lc = conf;
        while (lc instanceof BaseWrapperLayer && !isFrozenLayer(lc)) {
            lc = ((BaseWrapperLayer) lc).getUnderlying();
        }
        return lc;
    }

    /**
     * Encoder offload's rule (see the class comment): a frozen wrapper, or a {@link NoOp} or zero-rate
     * {@link Sgd} updater. A {@code NoOp} updater alone does not keep a parameter fixed in DL4J's
     * {@code fit} (its raw gradient is applied); {@link #staysFixed} tells what {@code fit} keeps fixed.
     *
     * @param conf  a layer configuration
     * @param param one of its parameter names
     * @return whether that parameter is taken as frozen by this rule
     */
    public static boolean isFrozen(Layer conf, String param) {
        return isFrozenLayer(conf) || isFrozenUpdater(conf.getUpdaterByParam(param));
    }

    /**
     * Whether DL4J's {@code fit} keeps a parameter fixed: its layer is a frozen wrapper, its updater is a
     * zero-rate {@link Sgd} ({@link #isZeroRate}, {@link #updater()} included), or it is a LoKR layer's frozen
     * {@code W} or {@code b} (a {@code NoOp} updater and a zero gradient). A {@code NoOp} updater on any other
     * layer's parameter does not keep it fixed: DL4J 1.0.0-M2.1 applies the raw gradient.
     *
     * @param conf  a layer configuration
     * @param param one of its parameter names
     * @return whether {@code fit} leaves that parameter unchanged
     */
    public static boolean staysFixed(Layer conf, String param) {
        return isFrozenLayer(conf) || isZeroRate(conf.getUpdaterByParam(param))
                || (conf instanceof dev.lokr.dl4j.conf.LokrLayer && !dev.lokr.dl4j.conf.LokrLayer.isAdapterParam(param));
    }
}
