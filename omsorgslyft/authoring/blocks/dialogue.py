"""``::: dialog``: nodes, the choices that link them, and a graph every path through ends."""

from __future__ import annotations

from collections import deque

from markdown_it.token import Token

from omsorgslyft.authoring.blocks.container import container
from omsorgslyft.authoring.context import Group, ParseContext, groups
from omsorgslyft.authoring.frontmatter import is_valid_id
from omsorgslyft.authoring.markdown import inline_text
from omsorgslyft.model import Dialogue, DialogueChoice, DialogueNode


def dialogue(ctx: ParseContext, did: str, group: Group, line: int) -> Dialogue | None:
    intro: list[Token] = []
    nodes: list[DialogueNode] = []
    node_ids: set[str] = set()
    ok = True
    for inner in groups(group[1:-1]):
        if inner[0].type != "container_block_open":
            if nodes:
                ctx.error(
                    ctx.line_of(inner[0], line),
                    f'Text mellan noderna i dialogen "{did}" ska ligga i en nod.',
                )
                ok = False
            intro.extend(inner)
            continue
        found = container(ctx, inner)
        if found is None:
            ok = False
            continue
        name, attrs = found
        node_line = ctx.line_of(inner[0], line)
        if name != "nod":
            ctx.error(
                node_line,
                f'I dialogen "{did}" får bara block av typen "nod" stå, inte "{name}".',
            )
            ok = False
            continue
        nid = attrs.get("id", "")
        if not is_valid_id(nid):
            ctx.error(
                node_line, f'Noden i dialogen "{did}" behöver ett id, till exempel {{#start}}.'
            )
            ok = False
            continue
        if nid in node_ids:
            ctx.error(node_line, f'Dialogen "{did}" har två noder med id:t "{nid}".')
            ok = False
            continue
        node_ids.add(nid)
        node = _node(ctx, did, nid, inner, node_line)
        if node is None:
            ok = False
        else:
            nodes.append(node)
    if not nodes:
        if ok:
            ctx.error(line, f'Dialogen "{did}" har inga noder. Skriv dem som ::: nod {{#id}}.')
        return None
    if not ok:
        return None
    if not _check_graph(ctx, did, nodes):
        return None
    return Dialogue(did, ctx.renderer.render(intro), line, tuple(nodes))


def _node(ctx: ParseContext, did: str, nid: str, group: Group, line: int) -> DialogueNode | None:
    text: list[Token] = []
    choices: list[DialogueChoice] = []
    body = groups(group[1:-1])
    for g in body:
        if g[0].type == "bullet_list_open" and g is body[-1]:
            for item in groups(g[1:-1]):
                choice = _choice(ctx, did, nid, item, line)
                if choice is None:
                    return None
                choices.append(choice)
        else:
            text.extend(g)
    if not text:
        ctx.error(line, f'Noden "{nid}" i dialogen "{did}" saknar text om vad som händer.')
        return None
    return DialogueNode(nid, ctx.renderer.render(text), line, tuple(choices))


def _choice(ctx: ParseContext, did: str, nid: str, item: Group, line: int) -> DialogueChoice | None:
    item_line = ctx.line_of(item[0], line)
    parts = groups(item[1:-1])
    inline = parts[0][1] if parts and parts[0][0].type == "paragraph_open" else None
    children = [c for c in (inline.children or []) if c.type != "softbreak"] if inline else []
    if not children or children[0].type != "link_open" or children[-1].type != "link_close":
        ctx.error(
            item_line,
            f'Svarsalternativen i noden "{nid}" ska vara länkar till nästa nod, '
            "till exempel - [Vad är viktigt för dig?](#lyssna).",
        )
        return None
    href = str(children[0].attrs.get("href", ""))
    if not href.startswith("#") or len(href) < 2:
        ctx.error(item_line, f'Länken i noden "{nid}" ska gå till en nod, till exempel (#lyssna).')
        return None
    feedback = ""
    for extra in parts[1:]:
        if extra[0].type != "blockquote_open":
            ctx.error(
                ctx.line_of(extra[0], item_line),
                f'Under ett svarsalternativ i noden "{nid}" får bara återkoppling (> ...) stå.',
            )
            return None
        feedback = ctx.renderer.render(extra[1:-1])
    label = Token(
        "inline", "", 0, children=children[1:-1], content=inline_text(inline) if inline else ""
    )
    return DialogueChoice(ctx.renderer.render_inline(label), href[1:], feedback)


def _check_graph(ctx: ParseContext, did: str, nodes: list[DialogueNode]) -> bool:
    by_id = {n.id: n for n in nodes}
    ok = True
    for node in nodes:
        for choice in node.choices:
            if choice.target not in by_id:
                ctx.error(
                    node.line,
                    f'Noden "{node.id}" i dialogen "{did}" länkar till "{choice.target}", '
                    "som inte finns. Rätta länken eller lägg till noden.",
                )
                ok = False
    if not ok:
        return False
    reachable = {nodes[0].id}
    queue = deque([nodes[0]])
    while queue:
        for choice in queue.popleft().choices:
            if choice.target not in reachable:
                reachable.add(choice.target)
                queue.append(by_id[choice.target])
    for node in nodes:
        if node.id not in reachable:
            ctx.error(
                node.line,
                f'Noden "{node.id}" i dialogen "{did}" går inte att nå. Länka till den från '
                "en annan nod eller ta bort den.",
            )
            ok = False
    # every reachable node must be able to reach an ending
    can_end = {n.id for n in nodes if n.is_end}
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if node.id not in can_end and any(c.target in can_end for c in node.choices):
                can_end.add(node.id)
                changed = True
    if not can_end & reachable:
        ctx.error(nodes[0].line, f'Dialogen "{did}" har inget slut (en nod utan svarsalternativ).')
        return False
    for node in nodes:
        if node.id in reachable and node.id not in can_end:
            ctx.error(
                node.line,
                f'Från noden "{node.id}" i dialogen "{did}" finns ingen väg till ett slut.',
            )
            ok = False
    return ok
