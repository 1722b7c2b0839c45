// The card-number field of the built-in test provider, shared by every form that takes one (the
// checkout sheet, the bag's sheet, a draw's entry that authorizes at entry). Under Stripe none of
// them sends a number: Stripe.js's card element takes its place (viewer/stripe_checkout.js).

/** The input's properties: a numeric keyboard on phones, the browser's saved cards, 19 digits and spaces. */
export const CARD_INPUT = Object.freeze({ inputMode: "numeric", autocomplete: "cc-number", maxLength: 23 });

/** The digits as the server takes them: "4242 4242-4242 4242" -> "4242424242424242". */
export function cardDigits(value) {
  return String(value ?? "").replace(/[\s-]/g, "");
}
