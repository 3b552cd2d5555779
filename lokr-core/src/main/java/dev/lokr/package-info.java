/**
 * LoKR adapters: {@link dev.lokr.LokrAdapter}, the immutable, validated options of a Kronecker-product
 * adapter {@code dW = multiplier * scale * scalar * kron(w1, w2)} (LyCORIS's LoKR).
 *
 * <p>The math lives in {@link dev.lokr.math}; adapter files (safetensors, LyCORIS and PEFT layouts)
 * in {@link dev.lokr.io}. This module needs only {@code nd4j-api}: the application picks the ND4J
 * backend.
 */
package dev.lokr;
