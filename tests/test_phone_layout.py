"""The module page on a phone, as a learner meets it: the four real modules at 360 px.

Every option of every question can be tapped where it is shown (Playwright's own hit test:
no ``force``) and the tap selects it; no text is cut off, no two texts overlap, nothing
scrolls sideways; touch targets are at least 44 x 44 px and control text is at least
16 px, in the prose's font; no glyph needs a font of its own (arrows, symbols, emoji);
axe finds nothing serious. The layout checks also run at 320,
768 and 1280 px. A keyboard-only learner completes a whole module and hears the result.

One platform (the four modules) and one browser for the whole file.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pages import login
from platform_fixture import PASSWORD, ROOT, Platform, start_platform
from playwright.sync_api import Browser, Page, expect

from omsorgslyft.authoring import load_module
from omsorgslyft.model import Dialogue, Module, Question, QuestionKind, Reflection
from omsorgslyft.runtime.widgets import plain

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODULES = ("kasam", "hbtqi", "samiska", "personcentrering")
#: one learner per module, so each page starts from nothing
LEARNERS = dict(zip(MODULES, ("anna", "bengt", "cecilia", "david"), strict=True))
KEYBOARD_LEARNER = "erik"
EXTRA = f'\nc.Authenticator.post_auth_hook.open_to |= {{"{KEYBOARD_LEARNER}"}}\n'


@pytest.fixture(scope="module")
def phone_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(
        tmp_path_factory.mktemp("phone"),
        [ROOT / "modules" / m for m in MODULES],
        idle_minutes=30,
        extra_config=EXTRA,
    )


def open_module(page: Page, platform: Platform, module_id: str) -> None:
    page.goto(f"{platform.url}/services/learn/modul/{module_id}")
    expect(page.get_by_role("button", name="Lämna in")).to_be_visible(timeout=60_000)


def wait_saved(page: Page) -> None:
    """Wait until the page's saves are confirmed and no more are arriving."""
    expect(page.locator(".ol-save")).to_contain_text("Sparat kl.", timeout=15_000)
    last = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = page.locator(".ol-save").get_attribute("data-sparning")
        if now == last:
            return
        last = now
        page.wait_for_timeout(700)
    raise AssertionError("saves kept arriving")


#: what is wrong with the page's layout, as a person would see it (empty lists: nothing)
LAYOUT = """
() => {
  const main = document.getElementById('rendered_cells');
  const shown = el => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden';
  };
  const text = el => (el.innerText || el.value || '').trim().replace(/\\s+/g, ' ');
  const name = el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} "${text(el).slice(0, 70)}"`;
  const out = {sideways: [], clipped: [], overlapping: [], small: [], type: [], glyphs: []};
  // arrows, symbols, dingbats and emoji need a font that has them: icons are inline SVG
  out.glyphs = [...new Set(main.innerText.match(/[\\u2190-\\u2bff\\u{1f000}-\\u{1faff}]/gu) || [])];
  const width = window.innerWidth;
  for (const el of [document.documentElement, document.body]) {
    if (el.scrollWidth > width) out.sideways.push(`${el.tagName} ${el.scrollWidth} > ${width}`);
  }
  if (main.scrollWidth > main.clientWidth + 1) out.sideways.push(`main ${main.scrollWidth} > ${main.clientWidth}`);
  for (const el of main.querySelectorAll('*')) {
    if (!shown(el) || !text(el) || el.clientWidth === 0) continue;
    const s = getComputedStyle(el);
    const hides = v => v === 'hidden' || v === 'clip';
    const scrolls = v => v === 'auto' || v === 'scroll';
    const wide = el.scrollWidth > el.clientWidth + 1, tall = el.scrollHeight > el.clientHeight + 1;
    if (((hides(s.overflowX) || s.textOverflow === 'ellipsis') && wide) || (hides(s.overflowY) && tall)
        || (!['TEXTAREA', 'SELECT'].includes(el.tagName) && ((scrolls(s.overflowX) && wide) || (scrolls(s.overflowY) && tall)))) {
      out.clipped.push(`${name(el)} ${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
    }
  }
  const boxes = [...main.querySelectorAll('label, button, select, textarea, .widget-html-content > *, .jp-RenderedMarkdown > *')]
    .filter(el => shown(el) && text(el) !== '');
  const rects = boxes.map(el => el.getBoundingClientRect());
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      if (boxes[i].contains(boxes[j]) || boxes[j].contains(boxes[i])) continue;
      const a = rects[i], b = rects[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) out.overlapping.push(`${name(boxes[i])} and ${name(boxes[j])}`);
    }
  }
  const prose = getComputedStyle(main.querySelector('.jp-RenderedMarkdown p')).fontFamily;
  const controls = main.querySelectorAll('button, select, textarea, .ol-choices label, .ol-option label.widget-label-basic, .ol-match > label');
  for (const el of controls) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (el.tagName !== 'LABEL' || el.querySelector('input')) {
      if (r.width < 43.5 || r.height < 43.5) out.small.push(`${name(el)} ${r.width.toFixed(0)}x${r.height.toFixed(0)}`);
    }
    const s = getComputedStyle(el);
    if (parseFloat(s.fontSize) < 16 || s.fontFamily !== prose) out.type.push(`${name(el)} ${s.fontSize} ${s.fontFamily}`);
  }
  return out;
}
"""


def layout_problems(page: Page) -> dict[str, list[str]]:
    found: dict[str, list[str]] = page.evaluate(LAYOUT)
    return {k: v for k, v in found.items() if v}


def serious(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}: {v['nodes'][0]['target']})"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def asked(page: Page) -> list[str]:
    """The graded questions this attempt shows (a pool asks some of them), in order."""
    ids: list[str] = page.locator(".ol-graded .ol-prompt").evaluate_all(
        "els => els.map(e => e.id.replace('ol-fraga-', ''))"
    )
    return ids


def choice_counts(module: Module, shown: list[str]) -> tuple[int, int]:
    """How many radio and how many checkbox options the page's questions have: every
    exercise and the graded questions of this attempt."""
    radios = checks = 0
    for block in module.blocks:
        if isinstance(block, Question) and (not block.graded or block.id in shown):
            if block.kind in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE):
                radios += len(block.options)
            elif block.kind is QuestionKind.MULTIPLE:
                checks += len(block.options)
    return radios, checks


@pytest.mark.parametrize("module_id", MODULES)
def test_every_option_on_a_phone(
    phone_platform: Platform, browser: Browser, module_id: str
) -> None:
    module = load_module(ROOT / "modules" / module_id)
    context = browser.new_context(viewport={"width": 360, "height": 780})
    page = context.new_page()
    login(page, phone_platform, LEARNERS[module_id])
    open_module(page, phone_platform, module_id)

    for width in (360, 320, 768, 1280):
        page.set_viewport_size({"width": width, "height": 780})
        page.wait_for_timeout(200)
        assert layout_problems(page) == {}, f"{module_id} at {width} px"
    page.set_viewport_size({"width": 360, "height": 780})
    page.wait_for_timeout(200)

    # every option is tapped where it is shown, and the tap selects it
    radio_groups = page.locator(".ol-card .ol-choices.widget-radio")
    check_labels = page.locator(".ol-card .ol-option label.widget-label-basic")
    radios = 0
    for g in range(radio_groups.count()):
        labels = radio_groups.nth(g).locator(".widget-radio-box > label")
        for i in range(labels.count()):
            labels.nth(i).click()
            expect(labels.nth(i).locator("input")).to_be_checked()
            expect(radio_groups.nth(g).locator("input:checked")).to_have_count(1)
            radios += 1
    for i in range(check_labels.count()):
        check_labels.nth(i).click()
        expect(check_labels.nth(i).locator("input")).to_be_checked()
    assert (radios, check_labels.count()) == choice_counts(module, asked(page))

    # every select and every enabled button can be reached where it is shown
    selects = page.locator(".ol-card select")
    for i in range(selects.count()):
        selects.nth(i).click(trial=True)
        selects.nth(i).select_option(index=1)
    for button in page.locator(
        ".ol-card button:not([disabled]):visible, .ol-check > button:visible"
    ).all():
        button.click(trial=True)
    assert layout_problems(page) == {}, f"{module_id} answered"
    wait_saved(page)

    # the kernel took every tap: a new page shows the last choice of each question
    page.reload()
    expect(page.get_by_role("button", name="Lämna in")).to_be_visible(timeout=60_000)
    for g in range(radio_groups.count()):
        expect(
            radio_groups.nth(g).locator(".widget-radio-box > label").last.locator("input")
        ).to_be_checked()
    for i in range(check_labels.count()):
        expect(check_labels.nth(i).locator("input")).to_be_checked()
    for i in range(selects.count()):
        assert selects.nth(i).evaluate("s => s.selectedIndex") == 1
    # last: axe's run leaves Voilà's page layout (Lumino) measured anew, as no learner does
    assert serious(page) == [], module_id
    context.close()


@pytest.mark.parametrize("module_id", MODULES)
def test_one_heading_per_section(
    phone_platform: Platform, browser: Browser, module_id: str
) -> None:
    """ "Ordlista" and "Kunskapskontroll" head their section once: the compiler leaves its
    own heading out where the module's section already has one."""
    context = browser.new_context(viewport={"width": 360, "height": 780})
    page = context.new_page()
    login(page, phone_platform, LEARNERS[module_id])
    open_module(page, phone_platform, module_id)
    for heading in ("Ordlista", "Kunskapskontroll"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_have_count(1)
    context.close()


@pytest.mark.parametrize("module_id", MODULES)
def test_each_question_is_a_group_named_by_its_prompt(
    phone_platform: Platform, browser: Browser, module_id: str
) -> None:
    """What a screen reader says on reaching an option: the question it belongs to."""
    module = load_module(ROOT / "modules" / module_id)
    context = browser.new_context(viewport={"width": 360, "height": 780})
    page = context.new_page()
    login(page, phone_platform, LEARNERS[module_id])
    open_module(page, phone_platform, module_id)
    expect(page.locator(".ol-graded")).not_to_have_count(0)
    shown = asked(page)
    questions = [
        b for b in module.blocks if isinstance(b, Question) and (not b.graded or b.id in shown)
    ]
    assert questions and len(shown) == module.check.asked
    for q in questions:
        single = q.kind in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE)
        role = "radiogroup" if single else "group"
        group = page.get_by_role(role, name=plain(q.prompt_html), exact=True)
        expect(group).to_have_count(1)
        if single:  # the options are inside the named group
            expect(group.get_by_role("radio")).to_have_count(len(q.options))
    context.close()


# -- keyboard only ----------------------------------------------------------------------

#: what has the focus: enough to decide what a keyboard user does next
FOCUSED = """
() => {
  const el = document.activeElement;
  const card = el.closest('.ol-card, .ol-submit');
  const label = el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`));
  // a select's options keep their words together with no-break and zero-width spaces
  const words = t => t.replace(/\u200b/g, '').replace(/\u00a0/g, ' ').trim();
  return {
    tag: el.tagName, type: el.type || '', checked: !!el.checked, title: el.title || '',
    text: words(el.innerText || ''), label: label ? words(label.innerText) : '',
    card: card ? card.innerText : '', dialog: !!el.closest('.ol-dialog'),
    focusBox: el.classList.contains('ol-focus'), option: el.tagName === 'OPTION',
  };
}
"""


def text_of(html: str) -> str:
    return plain(html)


class KeyboardLearner:
    """Answers a module with the keyboard alone: Tab, Shift+Tab, Space, Enter, arrows, typing."""

    def __init__(self, page: Page, module: Module) -> None:
        self.page = page
        self.questions = [b for b in module.blocks if isinstance(b, Question)]
        self.ordered: set[str] = set()
        self.checked: set[str] = set()
        self.dialogue_steps = 0
        self.reflections = 0

    def focused(self) -> dict[str, Any]:
        info: dict[str, Any] = self.page.evaluate(FOCUSED)
        return info

    def press(self, key: str) -> dict[str, Any]:
        self.page.keyboard.press(key)
        return self.focused()

    def question(self, card: str) -> Question | None:
        """The question on ``card``: its prompt is there, and the most of its options (a
        pool may hold several questions with the same short prompt)."""
        text = " ".join(card.split())
        found = [q for q in self.questions if text_of(q.prompt_html)[:60] in text]

        def shown(q: Question) -> int:
            parts = [o.html for o in (*q.options, *q.items)] + [p.left_html for p in q.pairs]
            return sum(" ".join(text_of(h).split()) in text for h in parts)

        return max(found, key=shown, default=None)

    def tab_to(self, wanted: Any, limit: int = 60) -> dict[str, Any]:
        for _ in range(limit):
            now = self.press("Tab")
            if wanted(now):
                return now
        raise AssertionError("the keyboard never reached the control")

    def answer(self, now: dict[str, Any]) -> bool:
        """Act on the focused control; True when the module has been handed in."""
        q = self.question(now["card"]) if now["card"] else None
        if now["tag"] == "INPUT" and q is not None:
            right = {text_of(o.html) for o in q.options if o.correct}
            if (now["label"] in right) != now["checked"] and (
                now["type"] == "checkbox" or not now["checked"]
            ):
                self.page.keyboard.press("Space")
        elif now["tag"] == "SELECT" and q is not None:
            pair = next(p for p in q.pairs if text_of(p.left_html) == now["label"])
            self.choose(text_of(pair.right_html))
        elif now["tag"] == "TEXTAREA":
            self.page.keyboard.type("Mina egna tankar.")
            self.reflections += 1
        elif now["tag"] == "BUTTON":
            return self.button(now, q)
        return False

    def choose(self, wanted: str) -> None:
        """Open the focused select, move to ``wanted`` with the arrows, take it with Enter."""
        now = self.press("ArrowDown")
        for _ in range(20):
            if now["option"] and now["text"] == wanted:
                break
            now = self.press("ArrowDown")
        else:
            raise AssertionError(f"no option {wanted!r}")
        now = self.press("Enter")
        assert now["tag"] == "SELECT"

    def button(self, now: dict[str, Any], q: Question | None) -> bool:
        if now["text"] == "Lämna in":
            self.page.keyboard.press("Enter")
            return True
        if now["text"] == "Upp" and q is not None and q.id not in self.ordered:
            self.order(q)
        elif now["text"] == "Kontrollera svaret" and q is not None:
            self.page.keyboard.press("Enter")
            card = self.page.locator(".ol-card").filter(has_text=text_of(q.prompt_html)[:60])
            expect(card.get_by_role("alert")).to_contain_text("Rätt.")
            self.checked.add(q.id)
        elif now["dialog"] and now["text"] != "Börja om dialogen" and self.dialogue_steps < 12:
            self.page.keyboard.press("Enter")
            self.dialogue_steps += 1
            # the old choices are gone: focus is on what was said, just above the new scene
            said = self.page.locator(".ol-dialog .ol-said")
            expect(said).to_be_focused()
            expect(said).to_have_text(f"Du sa: ”{now['text']}”")
        return False

    def wait_for(self, wanted: Any) -> dict[str, Any]:
        """The focus once ``wanted`` holds for it (the kernel's reply takes a moment)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = self.focused()
            if wanted(now):
                return now
            self.page.wait_for_timeout(100)
        raise AssertionError(f"focus stayed on {self.focused()}")

    def order(self, q: Question) -> None:
        """Put the items in order; the focus follows each item as it moves up."""
        # the card with this prompt and these items (an exercise may share the prompt)
        card = self.page.locator(".ol-card").filter(has_text=text_of(q.prompt_html)[:60])
        for item in q.items:
            card = card.filter(has_text=text_of(item.html))
        for target, item in enumerate(q.items):
            text = text_of(item.html)
            shown = [" ".join(t.split()) for t in card.locator(".ol-order-item").all_inner_texts()]
            place = next(i for i, t in enumerate(shown) if t.endswith(text))
            if place == target:
                continue
            if f"Flytta upp: {text} (" not in self.focused()["title"]:
                self.tab_to(lambda f, t=text: f"Flytta upp: {t} (" in f["title"], 20)
            for step in range(place - target):
                self.page.keyboard.press("Enter")
                where = f"Flytta upp: {text} (nu plats {place - step} av"
                if place - step == 1:  # at the top: focus is on the same item's "Ned"
                    where = f"Flytta ned: {text} (nu plats 1 av"
                self.wait_for(lambda f, w=where: w in f["title"])
        expect(card.locator(".ol-order-item")).to_have_text(
            [
                re.compile(rf"^{i + 1}\.\s+{re.escape(text_of(x.html))}$")
                for i, x in enumerate(q.items)
            ]
        )
        self.ordered.add(q.id)


def test_keyboard_only_completes_a_module(phone_platform: Platform, browser: Browser) -> None:
    module = load_module(ROOT / "modules" / "kasam")
    context = browser.new_context(viewport={"width": 360, "height": 780})
    page = context.new_page()
    page.goto(f"{phone_platform.url}/hub/login")
    # the login page focuses the username field itself: wait for it before typing
    expect(page.get_by_label("Användarnamn")).to_be_focused()
    page.keyboard.type(KEYBOARD_LEARNER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Mina utbildningar")).to_be_visible()
    learner = KeyboardLearner(page, module)
    learner.tab_to(lambda f: f["text"].startswith("Börja") and "KASAM" in f["text"], 30)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Lämna in")).to_be_visible(timeout=60_000)

    handed_in = False
    for _ in range(600):
        if learner.answer(learner.press("Tab")):
            handed_in = True
            break
    assert handed_in, "Lämna in was never reached"

    exercises = {q.id for q in learner.questions if not q.graded}
    on_page = asked(page)  # the pool's questions this attempt asked
    ordering = {
        q.id
        for q in learner.questions
        if q.kind is QuestionKind.ORDERING and (not q.graded or q.id in on_page)
    }
    assert exercises <= learner.checked and ordering <= learner.ordered
    assert learner.dialogue_steps >= 2
    assert learner.reflections == sum(isinstance(b, Reflection) for b in module.blocks)
    assert any(isinstance(b, Dialogue) for b in module.blocks)

    # the result: focus moves to its first line, the heading follows
    points = sum(q.points for q in module.graded_questions if q.id in on_page)
    title = page.locator(".ol-result-title")
    expect(title).to_be_focused(timeout=60_000)
    expect(title).to_have_text(f"Resultat: Godkänd! {points:g} av {points:g} poäng (100 %).")
    result = page.locator(".ol-result-box")
    expect(result.get_by_role("heading", name="Godkänd!")).to_be_visible()
    expect(result).to_contain_text(f"Du fick {points:g} av {points:g} poäng")
    assert layout_problems(page) == {}, "the result"
    context.close()
