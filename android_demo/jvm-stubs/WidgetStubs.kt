package android.widget

open class TextView : android.view.View() {
    var text: CharSequence = ""
}
class EditText : TextView()
class Button : TextView()
class SeekBar : android.view.View() {
    val progress: Int get() = 0
}
