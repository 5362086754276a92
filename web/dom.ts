/**
 * The page's only way to make elements. Text always goes in as text nodes and attributes through
 * setAttribute, so user content (bodies, titles, user ids, server messages) is never parsed as HTML.
 */
type Child = Node | string | null | undefined | false;

/** Creates `<tag>` with string attributes (undefined ones left out) and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return element;
}

/** The element with this id, which index.html must have, of the expected kind. */
export function byId<T extends HTMLElement>(id: string, kind: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof kind)) throw new Error(`index.html has no ${kind.name} #${id}`);
  return element;
}

/** A button styled as a link that runs `onClick`: the Edit, Delete, Retry and Discard of message rows. */
export function actionButton(label: string, onClick: () => void): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'link' }, label);
  button.addEventListener('click', onClick);
  return button;
}
