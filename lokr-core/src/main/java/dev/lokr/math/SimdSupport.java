package dev.lokr.math;

import com.sun.management.HotSpotDiagnosticMXBean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.management.ManagementFactory;

/**
 * Whether this JVM runs the SIMD kernels of {@link VectorRows}. They need the JDK's incubating Vector API
 * in the boot layer: start the JVM with {@code --add-modules jdk.incubator.vector} (the JVM then prints a
 * one-line warning that an incubating module is in use). The scalar loops run instead, with results that
 * agree to float precision, when any of these holds, because the Vector API would then fall back to
 * lane-by-lane Java code far slower than the scalar loops:
 * <ul>
 *   <li>the module is not in the boot layer, or {@code -Dlokr.simd=false};</li>
 *   <li>the preferred float species has fewer than four lanes;</li>
 *   <li>the VM is not HotSpot with its C2 compiler: the JIT off ({@code -Xint}), {@code UseFMA} off,
 *       {@code TieredStopAtLevel} below 4, a JVMCI compiler, or no {@code HotSpotDiagnosticMXBean} to ask.</li>
 * </ul>
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
        String vm = hotSpotC2();
        if (vm != null) {
            log.debug("SIMD kernels off: {}", vm);
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

    /** @return null when this is HotSpot with C2 and hardware FMA, else why not */
    private static String hotSpotC2() {
        try {
            HotSpotDiagnosticMXBean bean = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            if (bean == null) {
                return "no HotSpotDiagnosticMXBean";
            }
            if (!optionIsTrue(bean, "UseCompiler")) {
                return "the JIT is off (-Xint or -XX:-UseCompiler)";
            }
            if (!optionIsTrue(bean, "UseFMA")) {
                return "UseFMA is off";
            }
            if (Integer.parseInt(bean.getVMOption("TieredStopAtLevel").getValue()) < 4) {
                return "TieredStopAtLevel is below 4 (no C2)";
            }
            if (optionIsTrue(bean, "UseJVMCICompiler")) {
                return "a JVMCI compiler instead of C2";
            }
            return null;
        } catch (RuntimeException | LinkageError e) {
            return "cannot read the VM options: " + e;
        }
    }

    /** @return whether the VM option {@code name} is {@code true}; false when this VM has no such option */
    private static boolean optionIsTrue(HotSpotDiagnosticMXBean bean, String name) {
        try {
            return "true".equals(bean.getVMOption(name).getValue());
        } catch (IllegalArgumentException absent) {
            return false;
        }
    }
}
