/**
 * The runtime LoKR layers: dense and output layers computed by {@code dev.lokr.math.LokrDense} without
 * building {@code dW}, and convolutions run by DL4J's own convolution with the effective weight of
 * {@code dev.lokr.math.LokrWeights}. The base weight and bias are frozen.
 */
package dev.lokr.dl4j.layers;
