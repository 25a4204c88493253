package com.taste2vec.edge.demo

import android.app.Activity
import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.SeekBar
import android.widget.TextView
import com.taste2vec.edge.android.TasteEmbedder
import com.taste2vec.edge.core.Catalog
import com.taste2vec.edge.core.Curation
import com.taste2vec.edge.core.EmbeddingResult
import com.taste2vec.edge.core.RecordValidationException
import com.taste2vec.edge.core.TasteProfile
import com.taste2vec.edge.core.TastingRecord
import java.time.LocalDateTime
import java.util.concurrent.Executors

/**
 * One screen: notes + intensity sliders + mood -> embed; nearest catalog coffees; like / dislike update a
 * profile that drives a recommendation; per-call latency; a 200-run benchmark. All logic is in taste2vec-core.
 */
class MainActivity : Activity() {
    private val worker = Executors.newSingleThreadExecutor()  // keeps embedding off the UI thread
    private lateinit var embedder: TasteEmbedder
    private lateinit var catalog: Catalog
    private lateinit var profile: TasteProfile
    private val contexts = ArrayList<Map<String, Any?>>()  // the taster's recent context, newest last
    private var last: EmbeddingResult? = null

    private lateinit var notes: EditText
    private lateinit var output: TextView
    private lateinit var sliders: Map<String, SeekBar>

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        notes = findViewById(R.id.notes)
        output = findViewById(R.id.output)
        sliders = mapOf("acidity" to findViewById(R.id.acidity), "sweetness" to findViewById(R.id.sweetness),
                        "bitterness" to findViewById(R.id.bitterness), "body" to findViewById(R.id.body))
        val mood: SeekBar = findViewById(R.id.mood)
        findViewById<Button>(R.id.embed).setOnClickListener { embed(mood.progress.toDouble()) }
        findViewById<Button>(R.id.like).setOnClickListener { feedback(true) }
        findViewById<Button>(R.id.dislike).setOnClickListener { feedback(false) }
        findViewById<Button>(R.id.benchmark).setOnClickListener { benchmark() }
        worker.execute {
            embedder = TasteEmbedder.createFromOptions(this)
            val check = embedder.selfCheck()  // the bundle's golden records through this phone's interpreter
            catalog = Catalog.parse(assets.open("taste2vec/demo_catalog.json").use { String(it.readBytes(), Charsets.UTF_8) })
            profile = TasteProfile(dim = embedder.bundle.embeddingDim)
            show("Loaded ${embedder.modelVersion}, ${catalog.size} catalog coffees\n$check")
        }
    }

    private fun record(mood: Double): TastingRecord {
        val now = LocalDateTime.now()
        // "MON" is fine: the record spec trims and lower-cases categories
        contexts.add(mapOf("hour" to now.hour, "weekday" to now.dayOfWeek.name.take(3), "mood" to mood))
        val spec = embedder.bundle.spec
        while (contexts.size > spec.contextMaxSteps) contexts.removeAt(0)
        val metrics = sliders.mapValues { it.value.progress / 10.0 }  // sliders 0..100 -> 0..10
        return TastingRecord.create(spec, notes.text.toString(), metrics, contexts.toList())
    }

    private fun embed(mood: Double) = worker.execute {
        try {
            val result = embedder.embed(record(mood))
            last = result
            val near = catalog.similar(result.embedding, k = 3)
            show(buildString {
                append("embed: %.2f ms (preprocess %.2f, model %.2f), bucket %d\n".format(
                    result.timing.totalMs, result.timing.preprocessMs, result.timing.inferenceMs, result.bucket))
                result.warnings.forEach { append("note: $it\n") }
                append("flavours: ${result.attributes.keys.joinToString(", ") { it.substringAfterLast(" > ") }}\n")
                append("\nClosest coffees:\n")
                near.forEach { (item, sim) -> append("  %.3f  %s (%s)\n".format(sim, item.name, item.origin)) }
            })
        } catch (e: RecordValidationException) {
            show("Check ${e.field}: ${e.message}")
        }
    }

    private fun feedback(liked: Boolean) = worker.execute {
        val result = last ?: return@execute show("Embed a tasting first.")
        if (liked) profile.like(result.embedding, null, result.attributes, result.modelVersion)
        else profile.dislike(result.embedding, null, result.attributes, result.modelVersion)
        val picks = Curation.recommend(profile, catalog, k = 3, diversity = 0.3)
        show("Profile: ${profile.nEvents} events\n\nFor you:\n" +
             picks.joinToString("\n") { "  %.3f  %s — %s".format(it.score, it.item.name, it.explanation) })
    }

    private fun benchmark() = worker.execute {
        val rec = record(5.0)
        repeat(20) { embedder.embed(rec) }  // warm-up
        val ms = DoubleArray(200) { embedder.embed(rec).timing.totalMs }.sorted()
        fun p(q: Double) = ms[Math.min(ms.size - 1, (q * ms.size).toInt())]
        show("200 runs: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms (budget %.0f ms p99)".format(
            p(0.5), p(0.9), p(0.99), embedder.bundle.latencyBudgetMs))
    }

    private fun show(text: String) = runOnUiThread { output.text = text }

    override fun onDestroy() {
        worker.execute { if (::embedder.isInitialized) embedder.close() }
        worker.shutdown()
        super.onDestroy()
    }
}
