// Pure Kotlin/JVM: no Android dependency, so its tests run on any JVM (here: `make jvm-test` with Debian's kotlinc,
// android_demo/jvm.sh). R8 rules for apps ship inside the jar (src/main/resources/META-INF/proguard).
plugins {
    id("org.jetbrains.kotlin.jvm")
    `maven-publish`
}

kotlin {
    jvmToolchain(17)
}

java {
    withSourcesJar()
}

dependencies {
    // Ed25519 before Android 13 (API 33): used only when java.security lacks it; apps on minSdk < 33 that verify
    // downloaded bundles add it themselves (android_demo/README.md)
    compileOnly("org.bouncycastle:bcprov-jdk18on:1.78.1")
    testImplementation("junit:junit:4.13.2")
    testImplementation("org.bouncycastle:bcprov-jdk18on:1.78.1")
}

publishing {
    publications {
        register<MavenPublication>("maven") {
            artifactId = "taste2vec-core"
            from(components["java"])
        }
    }
}

tasks.test {
    // the same inputs as android_demo/jvm.sh test; run `make jvm-test` once first for the goldens
    val repo = rootProject.projectDir.parentFile
    systemProperty("taste2vec.bundle", File(repo, "sdk/taste2vec/models/DEFAULT").path)
    systemProperty("taste2vec.golden", File(repo, "build/golden").path)
    systemProperty("taste2vec.catalog", File(repo, "sdk/taste2vec/assets/demo_catalog.json").path)
}
