package dev.lokr.examples;

import dev.lokr.math.LokrLayout;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What an adapt-train-merge example found.
 *
 * @param name           the example's name
 * @param report         {@code LokrNetwork#report()} of the adapted network (factor shapes, parameter counts)
 * @param layouts        layer name to its adapter layout
 * @param trainable      adapter values (the only trainable values of the adapted layers)
 * @param total          all values of the adapted network
 * @param lossBefore     loss on the training data before the first step
 * @param lossAfter      loss on the training data after the last step
 * @param steps          training steps taken
 * @param adapterEffect  max |adapted output - output with the adapters disabled| after training (0 would
 *                       mean the adapters learnt nothing)
 * @param mergeMaxDiff   max |merged network output - adapted network output|
 * @param baseUnchanged  whether the frozen weights and biases of the adapted layers are bit-identical after training
 */
public record AdapterRun(String name, String report, Map<String, LokrLayout> layouts, long trainable, long total,
                         double lossBefore, double lossAfter, int steps, double adapterEffect, double mergeMaxDiff,
                         boolean baseUnchanged) {

    /** @return a few readable lines: the report, the loss, the merge check */
    public List<String> lines() {
        return List.of(
                "== " + name + " ==",
                report,
                String.format(Locale.ROOT, "trainable %d of %d values (%.2f%%)", trainable, total,
                        100.0 * trainable / total),
                String.format(Locale.ROOT, "loss %.4f -> %.4f after %d steps; frozen weights unchanged: %s",
                        lossBefore, lossAfter, steps, baseUnchanged),
                String.format(Locale.ROOT, "adapter changes outputs by up to %.4g; merged vs adapted max |diff| %.3g",
                        adapterEffect, mergeMaxDiff));
    }
}
