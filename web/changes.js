// changes.js: the change request pages (being written).
import { h, clear } from './ui.js';
export function render(main) {
  clear(main, h('p', {}, 'The change request pages are not written yet.'));
}
export function itemBody(item) {
  return item;
}
