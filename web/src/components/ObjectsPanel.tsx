/** The video's objects: add, select, rename, recolour, set the category and delete; show one
 * alone (solo) or hide some in the viewer. */
import { useState, type FormEvent } from "react";
import type { ObjectUpdate, VideoObject } from "../api/types";

/** Colours that stay apart from each other on most footage, offered in turn. */
export const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

interface Props {
  objects: VideoObject[];
  selected: number | null;
  onSelect: (id: number) => void;
  onAdd: (name: string, color: string) => Promise<void>;
  onUpdate: (object: VideoObject, change: ObjectUpdate) => Promise<void>;
  onDelete: (object: VideoObject) => void;
  /** Solo and hide in the viewer (no change to the object). */
  view?: ObjectView;
}

export interface ObjectView {
  isShown: (objectId: number) => boolean;
  solo: number | null;
  onSolo: (objectId: number) => void;
  onHide: (objectId: number) => void;
}

function ObjectRow({ object, selected, onSelect, onUpdate, onDelete, view }: {
  object: VideoObject;
  selected: boolean;
  onSelect: () => void;
  onUpdate: (change: ObjectUpdate) => Promise<void>;
  onDelete: () => void;
  view?: ObjectView;
}) {
  const [renaming, setRenaming] = useState<string | null>(null);

  async function rename(event: FormEvent) {
    event.preventDefault();
    const name = renaming?.trim();
    setRenaming(null);
    if (name && name !== object.name) await onUpdate({ name });
  }

  return (
    <li className={selected ? "selected" : ""} data-testid="object-row">
      {/* The swatch is the colour picker: changing it saves at once. */}
      <input
        type="color"
        className="swatch-input"
        value={object.color}
        aria-label={`Colour of ${object.name}`}
        onChange={(e) => void onUpdate({ color: e.target.value })}
      />
      {renaming === null ? (
        <button className="object" onClick={onSelect} onDoubleClick={() => setRenaming(object.name)} title="Double-click to rename">
          {object.name}
        </button>
      ) : (
        <form onSubmit={rename} className="rename">
          <input autoFocus value={renaming} maxLength={100} aria-label={`New name for ${object.name}`}
            onChange={(e) => setRenaming(e.target.value)} onBlur={rename}
            onKeyDown={(e) => e.key === "Escape" && setRenaming(null)} />
        </form>
      )}
      <button className="link" aria-label={`Rename ${object.name}`} onClick={() => setRenaming(object.name)}>Rename</button>
      <button className="link" aria-label={`Delete ${object.name}`} onClick={onDelete}>Delete</button>
      {view && <ViewToggles object={object} view={view} />}
      <CategoryInput object={object} onUpdate={onUpdate} />
    </li>
  );
}

/** Solo (this object alone) and hide, as toggles. */
function ViewToggles({ object, view }: { object: VideoObject; view: ObjectView }) {
  const soloed = view.solo === object.id;
  const hidden = !view.isShown(object.id);
  return (
    <span className="view-toggles">
      <button className={`link toggle${soloed ? " on" : ""}`} aria-label={`Solo ${object.name}`} aria-pressed={soloed}
        title="show this object alone" onClick={() => view.onSolo(object.id)}>S</button>
      <button className={`link toggle${hidden ? " on" : ""}`} aria-label={`Hide ${object.name}`} aria-pressed={hidden}
        title={hidden ? "hidden in the viewer" : "hide in the viewer"} onClick={() => view.onHide(object.id)}>{hidden ? "hidden" : "hide"}</button>
    </span>
  );
}

/** The class dataset exports use; saved on Enter or when the field loses focus. Suggestions are
 * the categories of the video's other objects (the datalist below the list). */
function CategoryInput({ object, onUpdate }: { object: VideoObject; onUpdate: (change: ObjectUpdate) => Promise<void> }) {
  const [draft, setDraft] = useState<string | null>(null);

  async function save() {
    const category = draft?.trim();
    setDraft(null);
    if (category && category !== object.category) await onUpdate({ category });
  }

  return (
    <input
      className="category"
      list="object-categories"
      value={draft ?? object.category}
      maxLength={100}
      aria-label={`Category of ${object.name}`}
      title="category (the class in dataset exports)"
      onChange={(e) => setDraft(e.target.value)}
      onBlur={() => void save()}
      onKeyDown={(e) => {
        if (e.key === "Enter") e.currentTarget.blur();
        if (e.key === "Escape") setDraft(null);
      }}
    />
  );
}

export function ObjectsPanel({ objects, selected, onSelect, onAdd, onUpdate, onDelete, view }: Props) {
  const [name, setName] = useState("");
  const [color, setColor] = useState<string | null>(null);
  const suggested = PALETTE[objects.length % PALETTE.length]!;

  async function submit(event: FormEvent) {
    event.preventDefault();
    await onAdd(name.trim() || `object ${objects.length + 1}`, color ?? suggested);
    setName("");
    setColor(null);
  }

  return (
    <section className="panel objects" aria-label="Objects">
      <h3>Objects</h3>
      <ul>
        {objects.map((o) => (
          <ObjectRow key={o.id} object={o} selected={o.id === selected} onSelect={() => onSelect(o.id)}
            onUpdate={(change) => onUpdate(o, change)} onDelete={() => onDelete(o)} view={view} />
        ))}
      </ul>
      <datalist id="object-categories">
        {[...new Set(objects.map((o) => o.category))].map((c) => <option key={c} value={c} />)}
      </datalist>
      <form onSubmit={submit} className="add-object">
        <input placeholder="New object name" value={name} onChange={(e) => setName(e.target.value)} aria-label="New object name" maxLength={100} />
        <input type="color" value={color ?? suggested} onChange={(e) => setColor(e.target.value)} aria-label="Colour" />
        <button type="submit">Add object</button>
      </form>
    </section>
  );
}
