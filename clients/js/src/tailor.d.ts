// Types of the tailor website client (tailor.js).

/** An event type a page tracks. Impressions are reported by slots. */
export type EventType = "view" | "search" | "cart" | "purchase" | "click";

/** Fields of an event besides its type, as the events API takes them. */
export interface EventFields {
  /** The item viewed, clicked, carted or bought; required but for search. */
  item?: string;
  /** The search text; required for search. */
  query?: string;
  /** A purchase's value; default the item's price. */
  amount?: number;
  session?: string;
  channel?: string;
  /** The rec_id of the recommendation this event follows. */
  rec_id?: string;
  /** RFC 3339 or epoch milliseconds; default the server's arrival time. */
  ts?: string | number;
  /** Overrides the client's user for this event. */
  user?: string;
  /** Overrides the generated event id (used to deduplicate retries). */
  id?: string;
}

/** A reason an item was recommended, as the recommend API gives it. */
export interface Reason {
  code: string;
  item?: string;
  query?: string;
  category?: string;
}

/** An item of a recommend answer. */
export interface AnswerItem {
  id: string;
  score: number;
  reasons: Reason[];
}

/**
 * What a slot template gets per item: without SlotOptions.details, the
 * catalog's facts of the item (its attrs, then title, brand, category, tags,
 * price); with it, the page's details for the item; then the answer's
 * fields, and its position.
 */
export interface SlotItem extends AnswerItem {
  position: number;
  [detail: string]: unknown;
}

export interface TailorOptions {
  /** The tailor server's base URL, such as "https://tailor.example.com". */
  endpoint: string;
  /** A token with the ingest and recommend scopes, when the server checks tokens. */
  token?: string;
  /**
   * The user's id. Without it the client makes an anonymous id
   * ("anon-" and 32 hexadecimal digits) and keeps it in storage.
   */
  user?: string;
  /** Milliseconds from the first queued event to a flush. Default 5000. */
  flushInterval?: number;
  /** Queued events that trigger a flush at once. Default 20. */
  flushAt?: number;
  /** Events per request, at most 10,000. Default 500. */
  maxBatch?: number;
  /** Events kept while the server cannot be reached; the oldest go first. Default 10,000. */
  maxQueue?: number;
  /** Milliseconds a slot waits for its answer. Default 3000. */
  slotTimeout?: number;
  /**
   * Where the anonymous id is kept. Default localStorage; null keeps it
   * in memory, for this page only (as before consent).
   */
  storage?: Pick<Storage, "getItem" | "setItem"> | null;
  /** The storage key of the anonymous id. Default "tailor.user". */
  storageKey?: string;
  /** Called for events that could not be sent and the like. Default console.warn. */
  onError?: (err: TailorError) => void;
  /** The fetch function to use. Default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** A template: a <template> holding one element, its selector, or a function. */
export type SlotTemplate = HTMLTemplateElement | string | ((item: SlotItem, index: number) => Element);

export interface SlotOptions {
  /** Items to ask for, 1 to 100. Default the server's, 10. */
  n?: number;
  /** The page's context: its item, search and category. */
  context?: { item?: string; query?: string; category?: string[] };
  exclude?: string[];
  filter?: { category?: string[]; audience?: string };
  boost?: { audience: string; category: string[]; weight?: number }[];
  /** How each item is rendered. */
  template: SlotTemplate;
  /**
   * The page's own details of the items (title, url, image...), by id.
   * Without it, the slot asks tailor for the catalog's facts of each item
   * (recommend's details), its attrs included.
   */
  details?: (ids: string[]) => Record<string, Record<string, unknown>> | Promise<Record<string, Record<string, unknown>>>;
  /** Milliseconds to wait for the answer. Default the client's slotTimeout. */
  timeout?: number;
}

/** A rendered slot. */
export interface Slot {
  /** The answer's rec_id; undefined when the server's learning is off. */
  recId?: string;
  arm?: string;
  experiment?: string;
  items: AnswerItem[];
  /** The rendered elements, one per item, in the answer's order. */
  elements: Element[];
}

export interface Tailor {
  /** The user events and slots are for. */
  readonly user: string;
  /** Events queued, not yet handed to the network. */
  readonly pending: number;
  /** Sets the user of the events and slots from now on. */
  identify(user: string): void;
  /** Queues an event. Throws a TypeError for another type. */
  track(type: EventType, fields?: EventFields): void;
  /** Asks for a slot and renders it into container. */
  slot(container: Element, options: SlotOptions): Promise<Slot>;
  /** Sends every queued event; resolves when the server has answered. */
  flush(): Promise<void>;
  /** Hands what is queued to a beacon and stops listening to the page. */
  close(): void;
}

/** An error of the client: a refused request, a network failure, a full queue. */
export class TailorError extends Error {
  constructor(message: string, status?: number, code?: string, field?: string, index?: number);
  /** The HTTP status; 0 without an answer. */
  status: number;
  /** The server's error code, or "network", "timeout", "queue_full". */
  code: string;
  /** The field the server named, if any. */
  field: string;
  /** The index of the offending event in its batch; -1 when none. */
  index: number;
  /** The events dropped because of this error. */
  events: object[];
}

/** Returns a client of the tailor server at options.endpoint. */
export function createTailor(options: TailorOptions): Tailor;
