import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.core.BundleTrust
import com.taste2vec.edge.core.Json
import com.taste2vec.edge.core.ModelBundle
import com.taste2vec.edge.core.RecordValidationException
import com.taste2vec.edge.core.TastingRecord
import com.taste2vec.edge.jvm.LiteRtJvmEngine
import java.io.File

// The JVM quick start of android_demo/README.md: embed on a server or in a test with LiteRT's own runtime.
// Run: java -cp quickstart.jar:taste2vec-core.jar:taste2vec-jvm.jar:jna.jar:kotlin-stdlib.jar QuickStartKt BUNDLE
fun main(args: Array<String>) {
    // a bundle folder or .zip; one downloaded from elsewhere needs BundleTrust.keys(releasePublicKeyPem)
    val bundle = ModelBundle.load(File(args[0]), BundleTrust.PACKAGED)
    BundleEmbedder(bundle, LiteRtJvmEngine.factory()).use { embedder ->  // one LiteRT engine per calling thread
        val report = embedder.selfCheck()  // the bundle's golden records through this runtime
        println(report)
        if (!report.passed) throw IllegalStateException("self-check failed on this runtime")

        val en = embedder.embed(TastingRecord.create(bundle.spec, "bright acidity, jasmine, bergamot",
                                                     mapOf("acidity" to 7.5, "sweetness" to 6)))
        val ko = embedder.embedJson(Json.parse("""{"notes": "밝은 산미, 자스민, 베르가못", "metrics": {"acidity": 7}}"""))
        println("${en.modelVersion}: ${en.embedding.size}-d vectors, buckets ${en.bucket}/${ko.bucket}, " +
                "cosine EN~KO %.3f".format(BundleEmbedder.cosineSimilarity(en.embedding, ko.embedding)))
        println("flavours: ${en.attributes.keys.joinToString(", ")}")

        try {
            embedder.embedJson(Json.parse("""{"notes": "too sour", "metrics": {"acidity": 12}}"""))
        } catch (e: RecordValidationException) {  // typed: the field and what is allowed there
            println("refused: ${e.errorType} at ${e.field} (${e.message})")
        }
    }
}
