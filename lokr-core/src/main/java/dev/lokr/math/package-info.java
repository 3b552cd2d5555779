/**
 * Pure LoKR math on ND4J, as stateless static operations, float32 and float64.
 *
 * <ul>
 *   <li>{@link dev.lokr.math.Factorization}: splitting a dimension into two factors;</li>
 *   <li>{@link dev.lokr.math.LokrLayout}: the factor plan of one module for one weight shape;</li>
 *   <li>{@link dev.lokr.math.LokrParams}: a module's named tensors; {@link dev.lokr.math.LokrInit}: their initialisation;</li>
 *   <li>{@link dev.lokr.math.LokrWeights}: delta weight, effective weight (DoRA included), its backward, merge and unmerge;</li>
 *   <li>{@link dev.lokr.math.LokrDense}: the dense layer forward and backward by the Kronecker identity, never building {@code dW};</li>
 *   <li>{@link dev.lokr.math.Kron}, {@link dev.lokr.math.Factors}, {@link dev.lokr.math.LokrDropout}: the building blocks.</li>
 * </ul>
 * DoRA's pass over the frozen weight can use SIMD lanes (the JDK's incubating Vector API) when the JVM
 * runs with {@code --add-modules jdk.incubator.vector}; see {@code SimdSupport} for the other conditions.
 * Every path computes the semantic of the LoKR spec: {@code y = x W'^T (+ bias)}; forward, backward,
 * merge and export agree within float tolerance.
 */
package dev.lokr.math;
