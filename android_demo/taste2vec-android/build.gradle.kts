// The Android library an app ships: TasteEmbedder (LiteRT, one interpreter per thread) on top of taste2vec-core.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
    `maven-publish`
}

android {
    namespace = "com.taste2vec.edge.android"
    compileSdk = 35
    defaultConfig {
        minSdk = 26  // java.util.Base64 (the core); LiteRT 1.4.1 supports 21+
        consumerProguardFiles("consumer-rules.pro")
    }
    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    api(project(":taste2vec-core"))
    api("com.google.ai.edge.litert:litert:1.4.1")
    implementation("androidx.annotation:annotation:1.9.1")
}

publishing {
    publications {
        register<MavenPublication>("release") {
            artifactId = "taste2vec-android"
            afterEvaluate { from(components["release"]) }
        }
    }
}
