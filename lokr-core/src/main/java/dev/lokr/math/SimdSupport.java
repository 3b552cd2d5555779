package dev.lokr.math;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether this JVM runs the SIMD kernels of {@link VectorRows}. They need the JDK's incubating Vector API
 * in the boot layer: start the JVM with {@code --add-modules jdk.incubator.vector} (the JVM then prints a
 * one-line warning that an incubating module is in use). Without it, or with
 * {@code -Dlokr.simd=false}, or on a machine with fewer than four float lanes, the scalar loops run; the
 * results agree to float precision either way.
 */
final class SimdSupport {

    /** The system property that turns the SIMD kernels off when set to {@code false}. */
    static final String PROPERTY = "lokr.simd";

    private static final Logger log = LoggerFactory.getLogger(SimdSupport.class);

    /** Whether {@link VectorRows} is used; decided once per JVM. */
    static final boolean ENABLED = detect();

    private SimdSupport() {
    }

    private static boolean detect() {
        if (!Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))) {
            log.debug("SIMD kernels off: -D{}=false", PROPERTY);
            return false;
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            log.debug("SIMD kernels off: start the JVM with --add-modules jdk.incubator.vector to use them");
            return false;
        }
        try {
            int lanes = VectorRows.lanes();
            if (lanes < 4) {
                log.debug("SIMD kernels off: {} float lanes", lanes);
                return false;
            }
            log.debug("SIMD kernels on: {} float lanes", lanes);
            return true;
        } catch (LinkageError e) {
            log.debug("SIMD kernels off: {}", e.toString());
            return false;
        }
    }
}
